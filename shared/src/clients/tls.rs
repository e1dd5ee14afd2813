//! The TLS settings every provider client shares: rustls with the system's root certificates,
//! as reqwest's own default, but read once per process and only when a first handshake needs
//! them. Left to reqwest, each client built reads and parses the whole system store (on Debian
//! the bundle file and every file of /etc/ssl/certs) when it is built: several times over at a
//! Lambda's cold start, for clients that a webhook answering from its store never uses.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, LazyLock, OnceLock};

/// A client configuration for `reqwest::ClientBuilder::tls_backend_preconfigured`; the clones
/// share one verifier, so the roots are read at most once.
pub fn config() -> rustls::ClientConfig {
    static CONFIG: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .dangerous()
            // Not a weaker check: every decision is the platform verifier's (what reqwest uses
            // by default), built on first use instead of with the client.
            .with_custom_certificate_verifier(Arc::new(OnFirstUse {
                provider,
                verifier: OnceLock::new(),
            }))
            .with_no_client_auth()
    });
    CONFIG.clone()
}

/// The platform verifier, made (the system's roots read) at the first handshake. A failure to
/// read them fails every handshake, as reqwest's default would fail building the client.
#[derive(Debug)]
struct OnFirstUse {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl OnFirstUse {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for OnFirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match self.verifier() {
            Ok(verifier) => verifier.supported_verify_schemes(),
            // The handshake fails at the certificate anyway.
            Err(_) => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// A self-signed certificate for example.com: no root of the system signed it.
    const SELF_SIGNED: &str = "MIIBmzCCAUGgAwIBAgIUUbl7RoMamRLsYbo2V3rOAdmQjEYwCgYIKoZIzj0EAwIwFjEUMBIGA1UEAwwLZXhhbXBsZS5jb20wIBcNMjYxMjAxMTI1ODE5WhgPMjEyNjExMDcxMjU4MTlaMBYxFDASBgNVBAMMC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUET/rRHIT3M++3pRtz+aRdJoe+WbxA+h5QsrvilHJGh4ZYOrEpE0Db6MdUbIYuSxcwacIwjvgUOzBkeGzGHrZqNrMGkwHQYDVR0OBBYEFCPZpA/fN/RzyHQmPltoqa9CuPDhMB8GA1UdIwQYMBaAFCPZpA/fN/RzyHQmPltoqa9CuPDhMA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILZXhhbXBsZS5jb20wCgYIKoZIzj0EAwIDSAAwRQIgeJ3szZoku8evryxgLUKzvw6VZlo7GfsYO4PU3hubIOECIQD6lxqXY8OhRHPasIfucNpWcfNRKrV3YAHWWFJAqzCQ8Q==";

    #[test]
    fn the_roots_are_read_at_the_first_handshake_and_an_unknown_issuer_is_refused() {
        let on_first_use = OnFirstUse {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            verifier: OnceLock::new(),
        };
        assert!(
            on_first_use.verifier.get().is_none(),
            "read before any handshake"
        );
        let cert = CertificateDer::from(
            base64::engine::general_purpose::STANDARD
                .decode(SELF_SIGNED)
                .expect("base64"),
        );
        let name = ServerName::try_from("example.com").expect("a name");
        let refused = on_first_use
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .expect_err("a self-signed certificate is not trusted");
        assert!(
            matches!(refused, rustls::Error::InvalidCertificate(_)),
            "{refused:?}"
        );
        assert!(on_first_use.verifier.get().is_some());
    }
}
