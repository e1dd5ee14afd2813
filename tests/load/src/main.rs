//! Placeholder: the load and crash proofs land here.
fn main() {}
