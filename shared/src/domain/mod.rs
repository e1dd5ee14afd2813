//! The pure ring: values, normalizers and rules. Nothing here does I/O or imports a module
//! outside `domain` (CI checks it: `scripts/check-rings`).

pub mod account;
pub mod appeal;
pub mod attribution;
pub mod channel_group;
pub mod contact;
pub mod csv;
pub mod deeplink;
pub mod directory;
pub mod exports;
pub mod ids;
pub mod integration;
pub mod job;
pub mod limits;
pub mod net;
pub mod oauth;
pub mod providers;
pub mod raw_event;
pub mod reattribution;
pub mod rollup;
pub mod secret;
pub mod session;
pub mod utm;
