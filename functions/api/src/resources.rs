//! The directory collections (sites, sources, campaigns, employees, integrations) share one
//! CRUD path: create and PATCH both go through [`Resource::build`], so a record is validated
//! the same way however it was written.

use crate::call::{Call, merge_patch, parse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::domain::directory::Directory;
use shared::edge::web::{ApiError, Invalid};
use shared::store::record::Record;
use shared::store::{Condition, DirectoryEntity};

pub trait Resource: DirectoryEntity + Record {
    /// Singular noun for messages ("site").
    const NOUN: &'static str;
    /// What a client writes.
    type Input: DeserializeOwned + Serialize;

    /// The record as the input that would build it again (the base a PATCH applies to).
    fn input(&self) -> Self::Input;

    /// Validates the input against the account's directory and builds the record;
    /// `existing` is the record a PATCH changes (`None`: a create).
    fn build(
        call: &Call<'_>,
        dir: &Directory,
        input: Self::Input,
        existing: Option<&Self>,
    ) -> Result<Self, ApiError>;

    /// The record as the API shows it.
    async fn view(&self, _call: &Call<'_>) -> Result<Value, ApiError> {
        Ok(serde_json::to_value(self).unwrap_or_default())
    }

    /// What follows from writing it (connecting a token, say); `previous` is `None` on create.
    async fn saved(&self, _call: &Call<'_>, _previous: Option<&Self>) -> Result<Self, ApiError> {
        Ok(self.clone())
    }

    /// Checks that need the outside world (a provider address's name lookup), after `build`
    /// and before the record is stored.
    async fn checked(self, _call: &Call<'_>) -> Result<Self, ApiError> {
        Ok(self)
    }

    /// After the record was deleted: what hung on it goes too.
    async fn deleted(&self, _call: &Call<'_>) -> Result<(), ApiError> {
        Ok(())
    }
}

pub async fn list<R: Resource>(call: &Call<'_>) -> Result<Value, ApiError> {
    let records: Vec<R> = call.app.store.entities(&call.account.id).await?;
    let mut items = Vec::with_capacity(records.len());
    for record in &records {
        items.push(record.view(call).await?);
    }
    Ok(json!({ "items": items }))
}

pub async fn show<R: Resource>(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    get::<R>(call, id).await?.view(call).await
}

pub async fn get<R: Resource>(call: &Call<'_>, id: &str) -> Result<R, ApiError> {
    call.app
        .store
        .entity_of(&call.account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No {} {id}.", R::NOUN)))
}

pub async fn create<R: Resource>(call: &Call<'_>) -> Result<Value, ApiError> {
    let input = parse(Value::Object(call.object()?))?;
    let dir = call.app.store.directory(&call.account.id).await?;
    let record = R::build(call, &dir, input, None)?.checked(call).await?;
    call.app
        .store
        .put_record(&record, Condition::NotExists)
        .await?;
    call.app.forget(&call.account.id);
    record.saved(call, None).await?.view(call).await
}

pub async fn update<R: Resource>(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let patch = Value::Object(call.object()?);
    let dir = call.app.store.directory(&call.account.id).await?;
    let previous = get::<R>(call, id).await?;
    let key = previous.key();
    let record = call
        .app
        .store
        .update_record(&key, |current: Option<R>| {
            let (patch, dir) = (patch.clone(), &dir);
            async move {
                let current =
                    current.ok_or_else(|| ApiError::not_found(format!("No {} {id}.", R::NOUN)))?;
                let mut doc = serde_json::to_value(current.input()).unwrap_or_default();
                merge_patch(&mut doc, patch);
                R::build(call, dir, parse(doc)?, Some(&current))?
                    .checked(call)
                    .await
            }
        })
        .await?;
    call.app.forget(&call.account.id);
    record.saved(call, Some(&previous)).await?.view(call).await
}

pub async fn delete<R: Resource>(call: &Call<'_>, id: &str) -> Result<(), ApiError> {
    let record = get::<R>(call, id).await?;
    call.app.store.delete_entity::<R>(id).await?;
    call.app.forget(&call.account.id);
    record.deleted(call).await
}

/// A required, trimmed, bounded name.
pub fn name(value: &str, what: &str) -> Result<String, ApiError> {
    let name = value.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.chars().count() {
        0 => Err(ApiError::invalid(
            "name",
            Invalid::Required,
            format!("The {what} needs a name."),
        )),
        n if n > 200 => Err(ApiError::invalid(
            "name",
            Invalid::TooLong,
            format!("The {what}'s name is over 200 characters."),
        )),
        _ => Ok(name),
    }
}

/// A reference to another record of the account must point at one that exists.
pub fn must_exist<T>(
    found: Option<T>,
    field: &str,
    noun: &str,
    id: &impl std::fmt::Display,
) -> Result<(), ApiError> {
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(
            field,
            Invalid::UnknownReference,
            format!("There is no {noun} {id} in this account."),
        )),
    }
}
