//! What a decision feeds, done the way the webhook path (`app::ingest`) does it but without a
//! store: the decision bounded, the appeal built from its facts (arithmetic on payload
//! dates), the session search in its first messages, the employee and the attribution
//! against the demo directory, the appeal bounded; then the promises the model makes:
//! merging the same facts again changes nothing, and the appeal fits one store item and
//! reads back from it.

use crate::stored::stored;
use chrono::{DateTime, Utc};
use shared::domain::appeal::{Appeal, AppealFacts, LookupSource, SessionLookup};
use shared::domain::attribution::attribute;
use shared::domain::contact::Contact;
use shared::domain::deeplink::{Code, find_session_id};
use shared::domain::directory::Directory;
use shared::domain::ids::AppealId;
use shared::domain::integration::Integration;
use shared::domain::providers::Decision;

/// Messages the webhook path searches for a session id or a deep-link code.
const MESSAGES_SEARCHED: usize = 10;

pub fn follow(
    decision: Decision,
    integration: &Integration,
    dir: &Directory,
    now: DateTime<Utc>,
) -> Result<(), String> {
    apply(decision.bounded(), integration, dir, now)
}

fn apply(
    decision: Decision,
    integration: &Integration,
    dir: &Directory,
    now: DateTime<Utc>,
) -> Result<(), String> {
    match decision {
        Decision::Many(items) => items
            .into_iter()
            .try_for_each(|d| apply(d, integration, dir, now)),
        Decision::Appeal(facts) | Decision::Enrich(facts, _) => {
            appeal(&facts, integration, dir, now).map(drop)
        }
        Decision::Collect {
            provider_ref,
            message,
            ..
        } => {
            let facts = shell(&provider_ref, now);
            let mut appeal = appeal(&facts, integration, dir, now)?;
            appeal.set_messages(vec![message], now);
            search(&appeal);
            appeal.bound();
            stored(&appeal)
        }
        // New contacts for the visitor's appeals, merged as the webhook path merges them.
        Decision::VisitorContact {
            visitor_ref,
            contact,
            agent,
        } => {
            let mut appeal = appeal(&shell(&visitor_ref, now), integration, dir, now)?;
            appeal.contact.merge(&contact);
            if appeal.agent.is_none() {
                appeal.agent.clone_from(&agent);
            }
            appeal.employee = dir.employee_for(
                appeal.provider,
                appeal.agent.as_ref(),
                integration.default_employee_id.as_ref(),
            );
            appeal.bound();
            stored(&appeal)
        }
        Decision::Fetch { provider_ref, .. } => {
            id(integration, &provider_ref);
            Ok(())
        }
        Decision::Ignore(_) => Ok(()),
    }
}

fn appeal(
    facts: &AppealFacts,
    integration: &Integration,
    dir: &Directory,
    now: DateTime<Utc>,
) -> Result<Appeal, String> {
    let mut appeal = Appeal::new(
        id(integration, &facts.provider_ref),
        integration.account_id.clone(),
        integration.id.clone(),
        integration.provider,
        facts,
        now,
    );
    search(&appeal);
    appeal.employee = dir.employee_for(
        appeal.provider,
        appeal.agent.as_ref(),
        integration.default_employee_id.as_ref(),
    );
    // As if the payload's session id was found, so attribution takes its first branch too.
    let lookup = facts.session.id.clone().map(|id| SessionLookup {
        id,
        source: LookupSource::Payload,
        found: true,
    });
    appeal.attribution = attribute(&appeal, lookup.as_ref(), dir, integration);
    appeal.bound();
    let mut again = appeal.clone();
    again.absorb(facts, now);
    again.bound();
    if again != appeal {
        return Err(format!(
            "merging the same facts twice changed the appeal: {:?}",
            facts.provider_ref
        ));
    }
    stored(&appeal)?;
    Ok(appeal)
}

fn search(appeal: &Appeal) {
    for message in appeal.messages.iter().take(MESSAGES_SEARCHED) {
        Code::find_in(&message.text);
        find_session_id(&message.text);
    }
}

fn id(integration: &Integration, provider_ref: &str) -> AppealId {
    AppealId::derive(&integration.id, integration.provider.as_str(), provider_ref)
}

/// The appeal a message waits for, known only by its conversation.
fn shell(provider_ref: &str, now: DateTime<Utc>) -> AppealFacts {
    AppealFacts {
        kind: shared::domain::appeal::Kind::Chat,
        provider_ref: provider_ref.to_owned(),
        channel: shared::domain::appeal::Channel::site(),
        occurred_at: Some(now),
        contact: Contact::default(),
        agent: None,
        messages: None,
        session: Default::default(),
        visitor_ref: None,
        status: shared::domain::appeal::Status::PendingEnrichment,
    }
}
