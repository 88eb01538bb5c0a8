//! The signed webhook, chatd's own [`PushTransport`] (docs/push.md): each push is one `POST`
//! of the JSON payload to `push.webhook_url` with
//! `X-Chatd-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with push.webhook_secret>`
//! and `X-Chatd-Delivery: <delivery id>`. A 2xx accepts it; a 5xx, a timeout or a failed
//! connection may pass and is retried; any other status (4xx, redirects) is final.
//!
//! The client is awc, actix's own: it runs on the actors' arbiter beside the
//! `NotificationActor`, with TLS through rustls.

use std::time::Duration;

use actix_web::http::header;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::push::{Attempt, Delivery, Launch, PushFailure, PushTransport};
use crate::config::PushSettings;

pub const SIGNATURE_HEADER: &str = "X-Chatd-Signature";
pub const DELIVERY_HEADER: &str = "X-Chatd-Delivery";

/// How much of a receiver's answer is read (and discarded) before the connection is reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct Webhook {
    client: awc::Client,
    url: String,
    secret: Vec<u8>,
}

impl Webhook {
    pub fn new(url: String, secret: &str, timeout: Duration) -> Self {
        Webhook {
            client: awc::Client::builder()
                .timeout(timeout)
                .disable_redirects()
                .finish(),
            url,
            secret: secret.as_bytes().to_vec(),
        }
    }
}

/// The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256 of the body
/// keyed with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl PushTransport for Webhook {
    fn attempt<'a>(&'a self, delivery: &'a Delivery) -> Attempt<'a> {
        Box::pin(async move {
            let body = delivery.body.as_bytes();
            let sent = self
                .client
                .post(&self.url)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .insert_header((SIGNATURE_HEADER, signature(&self.secret, body)))
                .insert_header((DELIVERY_HEADER, delivery.payload.delivery_id.to_string()))
                .send_body(delivery.body.clone())
                .await;
            let mut answer = match sent {
                Ok(answer) => answer,
                // Timeouts, refused or broken connections: the receiver may come back.
                Err(e) => return Err(PushFailure::Retry(e.to_string())),
            };
            let status = answer.status();
            let _ = answer.body().limit(MAX_ANSWER_BYTES).await;
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() {
                Err(PushFailure::Retry(format!("receiver answered {status}")))
            } else {
                Err(PushFailure::Permanent(format!(
                    "receiver answered {status}"
                )))
            }
        })
    }
}

/// The webhook's worker, when `push.webhook_url` is set.
pub fn launch(settings: &PushSettings) -> Option<Launch> {
    if settings.webhook_url.is_empty() {
        return None;
    }
    let (url, secret) = (
        settings.webhook_url.clone(),
        settings.webhook_secret.clone(),
    );
    let timeout = Duration::from_secs_f64(settings.timeout);
    Some(Launch::new(settings, move || {
        Box::new(Webhook::new(url, &secret, timeout))
    }))
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
