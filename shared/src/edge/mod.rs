//! The edge ring: how requests and invocations reach the application, and how its answers and
//! errors leave it.

#[cfg(feature = "aws")]
pub mod aws;
pub mod web;
