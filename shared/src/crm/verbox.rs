//! Verbox: a finished dialog's transcript, fetched when its webhook came without one
//! (`chat/message/getClientMessageList`; providers.md section 2, assumption 9 of
//! `domain::providers::verbox`). The REST token is static: no refresh, and Verbox publishes
//! no rate limit to keep.

use super::Session;
use crate::app::{ingest, jobs};
use crate::clients::verbox::Verbox;
use crate::domain::job::{Failure, Job, Task};
use crate::domain::providers::verbox::parse_messages;
use chrono::{Duration, Utc};

/// The REST API returns the client's whole history; this much before the finish is the dialog.
const DIALOG_WINDOW: Duration = Duration::hours(24);

pub async fn enrich(session: &Session<'_>, job: &Job) -> Result<(), Failure> {
    let Task::VerboxTranscript {
        client_id,
        search_id,
        finished_at,
    } = &job.task
    else {
        return Err(Failure::GiveUp("not a Verbox transcript".into()));
    };
    let integration = session.integration();
    let fail = |e| super::failure(integration, e);
    let settings = integration
        .verbox
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("not a Verbox integration".into()))?;
    let app = session.app();
    let appeal = jobs::appeal_of(app, job, integration).await?;
    let items = session
        .call(|token, timeout| async move {
            let client = Verbox {
                http: session.http(),
                settings,
                timeout,
            };
            client
                .client_messages(&token, client_id.as_deref(), *search_id)
                .await
        })
        .await
        .map_err(fail)?;
    // A dialog's finish time and its messages' times come from the payload: bounded, so the
    // window below cannot overflow.
    let finished_at = *finished_at;
    let from = finished_at.checked_sub_signed(DIALOG_WINDOW);
    let to = finished_at.checked_add_signed(Duration::minutes(1));
    let messages: Vec<_> = parse_messages(Some(&items), appeal.contact.name.as_deref())
        .into_iter()
        // A minute of slack: the finish time and the last message's clock may disagree.
        .filter(|m| from.is_none_or(|from| m.at >= from) && to.is_none_or(|to| m.at <= to))
        .collect();
    let now = Utc::now();
    ingest::update_appeal(app, integration, &appeal.id, now, |a| {
        a.complete_with(messages.clone(), now)
    })
    .await
    .map(|_| ())
    .map_err(|e| Failure::Retry(e.to_string()))
}
