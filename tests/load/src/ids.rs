//! The ids the product derives for what we send, computed with its own functions.

use crate::bodies::WIDGET_ID;
use shared::domain::ids::{AppealId, IntegrationId};
use shared::domain::raw_event::RawEvent;

const INTEGRATION: &str = "int_demo_jivo";
/// The Jivo hook's name in raw event ids (`functions/jivo-webhook`).
const HOOK: &str = "chats";

fn integration() -> IntegrationId {
    IntegrationId::parse(INTEGRATION).expect("the demo integration id is valid")
}

/// A Jivo chat's appeal: one per (widget, chat), whatever the event.
pub fn appeal(chat_id: u64) -> String {
    let chat_ref = format!("{WIDGET_ID}:{chat_id}");
    AppealId::derive(&integration(), "jivo", &chat_ref)
        .as_str()
        .to_owned()
}

/// A body's raw event: the same bytes are the same raw event.
pub fn raw_event(body: &[u8]) -> String {
    RawEvent::id_for(&integration(), HOOK, body)
}
