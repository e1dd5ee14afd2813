//! Placeholder: the fuzzer lands here.
fn main() {}
