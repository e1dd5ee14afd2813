//! CRMs we call: connecting, one session per integration and deadline, enrichment, reconciliation.

pub mod connections;
pub mod reconcile;
