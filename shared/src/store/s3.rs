//! The export bucket on S3: multipart uploads and presigned links, as plain HTTP requests
//! signed with SigV4 (`aws-sigv4`, which the SDK clients already bring): five S3 calls do not
//! pay for a second SDK client. Credentials and region come from the SDK configuration, so a
//! Lambda's role (and `AWS_ENDPOINT_URL`, moto in tests) work as for DynamoDB and SQS.

use super::kv::StoreError;
use super::objects::Objects;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::{Duration, SystemTime};

pub struct S3Objects {
    http: reqwest::Client,
    bucket: String,
    region: String,
    /// `Some`: an endpoint of our own (moto), addressed path-style (`<endpoint>/<bucket>/<key>`);
    /// `None`: AWS, virtual-hosted (`https://<bucket>.s3.<region>.amazonaws.com/<key>`).
    endpoint: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
}

impl S3Objects {
    /// `http`: the client to S3 (the edge builds it with the process's one TLS set-up, so
    /// the system roots are read once, at the first handshake, not at every cold start).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: String, http: reqwest::Client) -> S3Objects {
        S3Objects {
            http,
            bucket,
            region: sdk
                .region()
                .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
            endpoint: sdk
                .endpoint_url()
                .map(|e| e.trim_end_matches('/').to_owned()),
            credentials: sdk.credentials_provider(),
        }
    }

    /// The object's URL (keys are ours: `exports/<account>/<id>.csv`, nothing to escape).
    fn url(&self, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{}/{key}", self.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, self.region
            ),
        }
    }

    async fn identity(&self) -> Result<Identity, StoreError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("no AWS credentials for S3".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::Unavailable(format!("AWS credentials: {e}")))?;
        Ok(credentials.into())
    }

    fn settings(location: SignatureLocation) -> SigningSettings {
        let mut settings = SigningSettings::default();
        // S3 takes the path as sent, and wants the payload's hash in a header.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = location;
        if location == SignatureLocation::Headers {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        settings
    }

    /// Sends a signed request; the answer's headers and body, `None` if S3 has no such object
    /// (only a `get` expects that), or why not.
    async fn try_send(
        &self,
        method: http::Method,
        url: String,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Option<(http::HeaderMap, Vec<u8>)>, StoreError> {
        let identity = self.identity().await?;
        let settings = Self::settings(SignatureLocation::Headers);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?
            .into_parts();
        let posted = method == http::Method::POST;
        let mut request = http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(body)
            .map_err(|e| StoreError::Unavailable(format!("S3 request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        let request = reqwest::Request::try_from(request)
            .map_err(|e| StoreError::Unavailable(format!("S3 request: {e}")))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| StoreError::Unavailable(format!("S3: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| StoreError::Unavailable(format!("S3: {e}")))?
            .to_vec();
        let text = String::from_utf8_lossy(&bytes);
        // CompleteMultipartUpload (a POST) may answer 200 and say in the body that it failed;
        // a 200 to a GET is the object, whatever it says (a contact may be named `<Error>`).
        if status.is_success() && !(posted && text.contains("<Error>")) {
            return Ok(Some((headers, bytes)));
        }
        let code = tag(&text, "Code").unwrap_or_default();
        let message = format!("S3 answered {status} {code}");
        match code.as_str() {
            "NoSuchKey" => Ok(None),
            "NoSuchUpload" | "InvalidPart" | "InvalidPartOrder" => {
                tracing::warn!(
                    code,
                    "the export's upload is gone or changed; starting over"
                );
                Err(StoreError::ConditionFailed)
            }
            _ => Err(StoreError::Unavailable(message)),
        }
    }
}

impl S3Objects {
    /// [`Self::try_send`] for a request about something that must exist (the upload, the
    /// bucket).
    async fn send(
        &self,
        method: http::Method,
        url: String,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(http::HeaderMap, Vec<u8>), StoreError> {
        self.try_send(method, url, headers, body)
            .await?
            .ok_or_else(|| StoreError::Unavailable("S3 answered NoSuchKey".into()))
    }
}

#[async_trait]
impl Objects for S3Objects {
    async fn start_upload(&self, key: &str, content_type: &str) -> Result<String, StoreError> {
        let url = format!("{}?uploads=", self.url(key));
        let (_, body) = self
            .send(
                http::Method::POST,
                url,
                &[("content-type", content_type)],
                Vec::new(),
            )
            .await?;
        tag(&String::from_utf8_lossy(&body), "UploadId")
            .ok_or_else(|| StoreError::Unavailable("S3 gave the upload no id".into()))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: usize,
        body: Vec<u8>,
    ) -> Result<String, StoreError> {
        let url = format!(
            "{}?partNumber={number}&uploadId={}",
            self.url(key),
            encode(upload_id)
        );
        let (headers, _) = self.send(http::Method::PUT, url, &[], body).await?;
        headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Unavailable("S3 gave the part no ETag".into()))
    }

    async fn finish_upload(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), StoreError> {
        let url = format!("{}?uploadId={}", self.url(key), encode(upload_id));
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        self.send(
            http::Method::POST,
            url,
            &[("content-type", "application/xml")],
            xml.into_bytes(),
        )
        .await
        .map(|_| ())
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.send(
            http::Method::PUT,
            self.url(key),
            &[("content-type", "application/octet-stream")],
            body,
        )
        .await
        .map(|_| ())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let found = self
            .try_send(http::Method::GET, self.url(key), &[], Vec::new())
            .await?;
        Ok(found.map(|(_, body)| body))
    }

    async fn download_url(
        &self,
        key: &str,
        file_name: &str,
        valid_for: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let identity = self.identity().await?;
        let mut settings = Self::settings(SignatureLocation::QueryParams);
        settings.expires_in = Some(valid_for);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?
            .into();
        // Saved under its name, whatever the link looks like.
        let disposition = format!("attachment; filename=\"{file_name}\"");
        let url = format!(
            "{}?response-content-disposition={}",
            self.url(key),
            encode(&disposition)
        );
        let signable = SignableRequest::new(
            "GET",
            url.as_str(),
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| StoreError::Unavailable(format!("signing: {e}")))?
            .into_parts();
        let mut request = http::Request::builder()
            .uri(&url)
            .body(())
            .map_err(|e| StoreError::Unavailable(format!("presigning: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

/// The text of the first `<name>` element of an S3 answer.
fn tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(unescape(&xml[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A query value as SigV4 wants it: everything but unreserved characters percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_and_values_escaped_as_s3_and_sigv4_want() {
        let xml = "<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>a&amp;b</UploadId>\
                   </InitiateMultipartUploadResult>";
        assert_eq!(tag(xml, "UploadId").as_deref(), Some("a&b"));
        assert_eq!(tag(xml, "Code"), None);
        assert_eq!(escape("\"abc\""), "&quot;abc&quot;");
        assert_eq!(
            encode("attachment; filename=\"a b.csv\""),
            "attachment%3B%20filename%3D%22a%20b.csv%22"
        );
    }
}
