//! Webhook delivery: the outbox in the store, sent with retries and backoff.
//!
//! A task that turns terminal queues a delivery in the store (same transaction), so a restart
//! resumes pending deliveries. Any number of deliverers may run: each claims one delivery at a
//! time with a lease. The event is `{"event_type": "ASYNC_TASK_RESULT", "payload": <result>}`,
//! signed with `X-Refvid-Signature: sha256=<hex HMAC>` when the operator set a secret.

use hmac::{Hmac, Mac};
use refvid_api::TaskSpec;
use refvid_api::ent::{CreationLinks, creations_document};
use refvid_api::result::VideoOut;
use refvid_blob::BlobStore;
use refvid_media::GuardedHttp;
use refvid_store::{Delivery, DeliveryOutcome, State, TaskRecord, TaskStore, result_document};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Header carrying the body's HMAC-SHA256 when a secret is configured.
pub const SIGNATURE_HEADER: &str = "X-Refvid-Signature";

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Total attempts: the first send and up to 5 retries.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub backoff: Duration,
    /// How long one attempt may take before it counts as a timeout.
    pub timeout: Duration,
    /// How often an idle deliverer looks for due deliveries.
    pub poll: Duration,
    /// Lifetime of the `video_url` put in the payload, seconds.
    pub url_ttl_secs: u64,
    /// Operator secret for the signature header.
    pub secret: Option<Vec<u8>>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            url_ttl_secs: 3600,
            secret: None,
        }
    }
}

/// Sends queued webhook events.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Arc<dyn TaskStore>,
    pub blob: Arc<dyn BlobStore>,
    pub http: GuardedHttp,
    pub settings: DeliverySettings,
}

impl Deliverer {
    /// Delivers due events until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.deliver_due().await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "webhook outbox unavailable; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Sends every delivery that is due now.
    pub async fn deliver_due(&self) -> Result<(), refvid_store::StoreError> {
        loop {
            let now = crate::now_ms();
            let lease = now + 2 * self.settings.timeout.as_millis() as i64 + 1000;
            let Some(delivery) = self.store.claim_delivery(now, lease).await? else {
                return Ok(());
            };
            let outcome = self.attempt(&delivery).await;
            tracing::info!(task_id = %delivery.task_id, attempt = delivery.attempts, ?outcome, "webhook attempt");
            self.store.finish_delivery(delivery.id, &outcome).await?;
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> DeliveryOutcome {
        let body = match self.event_body(delivery).await {
            Ok(body) => body,
            Err(error) => return DeliveryOutcome::GaveUp { error },
        };
        let headers = self
            .signature(&body)
            .map(|sig| vec![(SIGNATURE_HEADER.to_string(), sig)])
            .unwrap_or_default();
        let sent = tokio::time::timeout(
            self.settings.timeout,
            self.http.post_json(&delivery.url, &body, &headers),
        )
        .await;
        let error = match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => return DeliveryOutcome::Delivered,
            Ok(Ok(status)) => format!("the receiver answered HTTP {status}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", self.settings.timeout.as_secs()),
        };
        if delivery.attempts >= self.settings.max_attempts {
            return DeliveryOutcome::GaveUp { error };
        }
        let delay =
            self.settings.backoff.as_millis() as i64 * (1 << (delivery.attempts - 1).min(10));
        DeliveryOutcome::Retry {
            at_ms: crate::now_ms() + delay,
            error,
        }
    }

    /// The event JSON: the task's current result document.
    async fn event_body(&self, delivery: &Delivery) -> Result<Vec<u8>, String> {
        let record = self
            .store
            .get(&delivery.task_id)
            .await
            .map_err(|e| e.to_string())?;
        let record = record.ok_or("the task no longer exists")?;
        if let Some(spec) = self.upstream_spec(&record.id).await? {
            let body = self.creations_body(&record, &spec).await?;
            return Ok(serde_json::to_vec(&body).expect("a document always serialises"));
        }
        let mut videos = Vec::new();
        if let (State::Succeed, Some(key)) = (record.state, record.output_key.as_deref()) {
            let ttl = self.settings.url_ttl_secs;
            let url = self
                .blob
                .signed_url(key, ttl)
                .await
                .map_err(|e| e.to_string())?;
            videos.push(VideoOut {
                video_url: url,
                video_url_ttl: ttl.to_string(),
                video_type: "mp4".into(),
            });
        }
        let event = serde_json::json!({
            "event_type": "ASYNC_TASK_RESULT",
            "payload": result_document(&record, videos),
        });
        Ok(serde_json::to_vec(&event).expect("a document always serialises"))
    }

    /// The stored request when it came in Vidu's dialect with a `callback_url`.
    async fn upstream_spec(&self, id: &str) -> Result<Option<TaskSpec>, String> {
        let json = self.store.get_spec(id).await.map_err(|e| e.to_string())?;
        let spec = json.and_then(|j| serde_json::from_str::<TaskSpec>(&j).ok());
        Ok(spec.filter(|s| s.upstream.as_ref().is_some_and(|u| u.callback)))
    }

    /// A `callback_url` receives the task's creations document (as `GET …/creations` shows it).
    async fn creations_body(&self, record: &TaskRecord, spec: &TaskSpec) -> Result<Value, String> {
        let ttl = self.settings.url_ttl_secs;
        let links = match (record.state, record.output_key.as_deref()) {
            (State::Succeed, Some(video)) => {
                let url = self
                    .blob
                    .signed_url(video, ttl)
                    .await
                    .map_err(|e| e.to_string())?;
                let cover_url = match record.cover_key.as_deref() {
                    Some(key) => self
                        .blob
                        .signed_url(key, ttl)
                        .await
                        .map_err(|e| e.to_string())?,
                    None => String::new(),
                };
                Some(CreationLinks { url, cover_url })
            }
            _ => None,
        };
        let status = refvid_store::status_of(record.state);
        Ok(creations_document(
            &record.id,
            status,
            &record.reason,
            spec,
            links,
        ))
    }

    fn signature(&self, body: &[u8]) -> Option<String> {
        let secret = self.settings.secret.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(body);
        Some(format!(
            "sha256={}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}
