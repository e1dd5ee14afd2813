//! The harness of chatsource's integration tests: it starts what the tests need (a moto
//! server, the local chatsource server) on free loopback ports and stops it afterwards.

pub mod amocrm;
pub mod bitrix24;
pub mod browser;
pub mod console;
pub mod lambda;
pub mod metrika;
pub mod moto;
pub mod process;
pub mod server;
pub mod verbox;
