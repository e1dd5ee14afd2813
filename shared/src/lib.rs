//! chatsource core: the appeal model, provider normalizers, attribution, the ingest pipeline,
//! the ports (small traits) and their adapters.
//!
//! Domain modules know nothing of AWS; the DynamoDB adapter (feature `dynamodb`) and the
//! embedded SQLite adapter (feature `sqlite`) live under [`store`]; [`aws`] wires a Lambda.

pub mod account;
pub mod app;
pub mod appeal;
pub mod attribution;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clients;
pub mod config;
pub mod connections;
pub mod contact;
pub mod deeplink;
pub mod demo;
pub mod directory;
pub mod ids;
pub mod ingest;
pub mod integration;
pub mod oauth;
pub mod providers;
pub mod queue;
pub mod raw_event;
pub mod reconcile;
pub mod secret;
pub mod session;
pub mod store;
pub mod utm;
pub mod web;
