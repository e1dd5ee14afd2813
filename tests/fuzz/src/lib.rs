//! Structure-aware fuzzing of every parser chatsource runs on what providers and browsers
//! send, on stable Rust: the Jivo, Verbox, amoCRM and Bitrix24 normalizers (and what their
//! decisions feed: appeals, attribution), verification of CRM hooks, the form decoder, and
//! the tracker's page views; plus a sample through the real HTTP handlers.
//!
//! | module | what it owns |
//! |---|---|
//! | [`rng`], [`atoms`] | the randomness of one input (by seed and index), odd scalars |
//! | [`shapes`], [`samples`] | what each provider sends: generated shapes, the real samples |
//! | [`mutate`], [`tree`], [`emit`], [`form`], [`bytes`] | mutations of trees, JSON text, form pairs, bytes |
//! | [`targets`], [`inputs`], [`fuzzer`], [`check`], [`stored`], [`context`], [`tracker`] | the parsers under test, their inputs, their promises |
//! | [`runner`], [`supervise`], [`findings`], [`commands`], [`stats`] | loops, crash isolation in child processes, findings on disk, the commands, what inputs come to |
//! | [`http`], [`requests`] | the HTTP sample: every rejection a 4xx with a reason |
//!
//! Run: `scripts/fuzz` (10^6 inputs per target) or `scripts/fuzz --short`.

pub mod atoms;
pub mod bytes;
pub mod check;
pub mod commands;
pub mod context;
pub mod emit;
pub mod findings;
pub mod form;
pub mod fuzzer;
pub mod http;
pub mod inputs;
pub mod mutate;
pub mod requests;
pub mod rng;
pub mod runner;
pub mod samples;
pub mod shapes;
pub mod stats;
pub mod stored;
pub mod supervise;
pub mod targets;
pub mod tracker;
pub mod tree;

pub use fuzzer::Fuzzer;
pub use targets::Target;
