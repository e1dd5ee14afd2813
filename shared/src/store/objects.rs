//! The export bucket, as a port: files written in parts (a multipart upload, so a file of any
//! size is written with bounded memory and across several invocations), and handed out as
//! links that expire. S3 on AWS (`s3`); the local server streams exports and needs none.

use super::kv::StoreError;
use async_trait::async_trait;
use std::time::{Duration, SystemTime};

/// S3 refuses parts smaller than this, except the last.
pub const MIN_PART: usize = 5 * 1024 * 1024;

#[async_trait]
pub trait Objects: Send + Sync {
    /// Starts writing `key`; the upload's id.
    async fn start_upload(&self, key: &str, content_type: &str) -> Result<String, StoreError>;

    /// Part `number` (from 1) of the upload; its ETag. Every part but the last is at least
    /// [`MIN_PART`] bytes.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: usize,
        body: Vec<u8>,
    ) -> Result<String, StoreError>;

    /// Makes the file of the parts, in order. `ConditionFailed`: the parts are not those the
    /// upload holds (the upload is gone, or a part was written again since); start over.
    async fn finish_upload(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), StoreError>;

    /// Writes `key` whole: the rows a run read but could not make a part of before its
    /// deadline (less than [`MIN_PART`]), kept for the next run.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;

    /// What `key` holds; `None` if it is gone (the bucket deletes files after a day).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A link anyone holding it can download `key` with until `now + valid_for`, saved as
    /// `file_name`.
    async fn download_url(
        &self,
        key: &str,
        file_name: &str,
        valid_for: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError>;
}
