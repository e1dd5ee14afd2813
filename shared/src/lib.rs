//! chatsource core, in rings. Arrows point down only: a ring uses the rings below it and
//! never one above it.
//!
//! | ring | what it owns |
//! |---|---|
//! | [`edge`] | HTTP and Lambda glue: the one error -> HTTP table, the Lambda runner |
//! | [`crm`] | amoCRM, Bitrix24, Verbox REST: connecting, the session that hands out tokens and paced calls within a deadline, the enrichment of a job, reconciliation |
//! | [`app`] | the application: what every handler borrows (`App`), the webhook path (`ingest`), jobs, configuration, the demo account |
//! | [`clients`] | HTTP to provider APIs, nothing else |
//! | [`store`], [`queue`] | ports (small traits) and their adapters: DynamoDB and SQLite, SQS and the embedded queue |
//! | [`domain`] | pure values and rules: appeals, attribution, integrations, provider normalizers; imports nothing outside itself |
//!
//! The domain knows nothing of AWS: the DynamoDB and SQS adapters sit behind the feature
//! `aws`, the embedded ones behind `sqlite`.

pub mod domain;

pub mod queue;
pub mod store;

pub mod clients;

pub mod app;

pub mod crm;

pub mod edge;
