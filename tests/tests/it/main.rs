//! chatsource driven as a user drives it: over HTTP, against real wire-level servers.
//! One test binary, so the harness (moto, servers) is shared and linking happens once.

mod addresses;
mod amocrm;
mod amocrm_standin;
mod api;
mod appeals_search;
mod bitrix24;
mod bitrix24_standin;
mod browser;
mod console;
mod console_appeals;
mod console_browser;
mod console_directories;
mod console_integrations;
mod console_reattribute;
mod console_reports;
mod crm_repeat;
mod enrichment;
mod export_csv;
mod exports;
mod forward;
mod group_commit;
mod lambda;
mod queue_contract;
mod repeat;
mod reports;
mod signals;
mod store_calls;
mod store_contract;
mod template;
mod utm_input;
mod verbox;
mod waiting;
