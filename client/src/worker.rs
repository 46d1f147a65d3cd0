//! The trainer worker protocol (`/api/worker/...`, a worker token).
//!
//! ```text
//! POST /api/worker/claim                        -> 200 ClaimedJob | 204 nothing to do
//! GET  /api/worker/jobs/{id}/data?attempt=N     -> Quick, Draw! raw ndjson, one drawing a line
//! POST /api/worker/jobs/{id}/heartbeat          -> HeartbeatAck (cancel?) | 409 lease lost
//! PUT  /api/worker/jobs/{id}/weights?attempt=N  -> 204 (Burnpack bytes)
//! POST /api/worker/jobs/{id}/complete           -> 200 ModelVersion (registered whole)
//! POST /api/worker/jobs/{id}/fail               -> 204
//! POST /api/worker/jobs/{id}/release            -> 204 (back in the queue)
//! ```

use std::time::Duration;

use inkset_protocol::ml::{
    ClaimRequest, ClaimedJob, CompleteJob, FailJob, Heartbeat, HeartbeatAck, ModelVersion,
    ReleaseJob,
};
use reqwest::Method;

use crate::{Client, ClientError, Idempotent};

/// Where [`Client::job_data`] puts each line of the data snapshot (one drawing, Quick, Draw!
/// raw ndjson, without its newline).
pub trait DataSink {
    /// Takes one line.
    fn line(&mut self, line: &str);
}

impl<F: FnMut(&str)> DataSink for F {
    fn line(&mut self, line: &str) {
        self(line);
    }
}

impl Client {
    /// `POST /api/worker/claim`: the next job of one of `model_kinds`, leased to `worker`;
    /// `None` when there is none.
    ///
    /// # Errors
    /// [`ClientError`]; a revoked token is a 401.
    pub async fn claim(
        &self,
        worker: &str,
        model_kinds: &[&str],
    ) -> Result<Option<ClaimedJob>, ClientError> {
        let body = ClaimRequest {
            worker: worker.to_owned(),
            model_kinds: model_kinds.iter().map(|k| (*k).to_owned()).collect(),
        };
        let resp = self
            .send(Idempotent::No, |c| {
                c.request(Method::POST, "/api/worker/claim")
                    .json(&body)
                    .timeout(Duration::from_secs(30))
            })
            .await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        crate::decode(resp).await.map(Some)
    }

    /// `GET /api/worker/jobs/{id}/data`: streams the job's data snapshot into `sink`, one
    /// line (drawing) at a time, without holding the whole body.
    ///
    /// # Errors
    /// [`ClientError`]; a line that is not UTF-8 is a [`ClientError::Decode`].
    pub async fn job_data(
        &self,
        job: &ClaimedJob,
        sink: &mut impl DataSink,
    ) -> Result<(), ClientError> {
        let path = format!("/api/worker/jobs/{}/data?attempt={}", job.id, job.attempt);
        let mut resp = self
            .send(Idempotent::Yes, |c| {
                c.request(Method::GET, &path)
                    .timeout(Duration::from_secs(24 * 3600))
            })
            .await?;
        let url = resp.url().to_string();
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|e| ClientError::Decode {
                    url: url.clone(),
                    message: format!("data snapshot line: {e}"),
                })
        };
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?
        {
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                sink.line(&text(&pending[start..start + nl])?);
                start += nl + 1;
            }
            pending.drain(..start);
        }
        if !pending.is_empty() {
            sink.line(&text(&pending)?);
        }
        Ok(())
    }

    /// `POST /api/worker/jobs/{id}/heartbeat`: renews the lease and reports progress.
    /// `Ok(None)` when the lease is lost (409: it expired and another worker has the job).
    ///
    /// # Errors
    /// [`ClientError`] for other refusals and transport trouble.
    pub async fn heartbeat(
        &self,
        job: &ClaimedJob,
        beat: &Heartbeat,
    ) -> Result<Option<HeartbeatAck>, ClientError> {
        let path = format!("/api/worker/jobs/{}/heartbeat", job.id);
        let sent = self
            .json(Idempotent::No, |c| {
                c.request(Method::POST, &path)
                    .json(beat)
                    .timeout(Duration::from_secs(30))
            })
            .await;
        match sent {
            Err(e) if e.status() == Some(409) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `PUT /api/worker/jobs/{id}/weights`: the trained weights (Burnpack bytes).
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the lease was lost meanwhile.
    pub async fn upload_weights(
        &self,
        job: &ClaimedJob,
        weights: Vec<u8>,
    ) -> Result<(), ClientError> {
        let path = format!(
            "/api/worker/jobs/{}/weights?attempt={}",
            job.id, job.attempt
        );
        let body = bytes::Bytes::from(weights);
        self.send(Idempotent::Yes, |c| {
            c.request(Method::PUT, &path)
                .body(body.clone())
                .timeout(Duration::from_secs(600))
        })
        .await
        .map(drop)
    }

    /// `POST /api/worker/jobs/{id}/complete` after [`Self::upload_weights`]: the server
    /// registers the version whole.
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the lease was lost meanwhile.
    pub async fn complete(
        &self,
        job: &ClaimedJob,
        manifest: serde_json::Value,
    ) -> Result<ModelVersion, ClientError> {
        let body = CompleteJob {
            attempt: job.attempt,
            manifest,
        };
        self.call(
            Idempotent::No,
            Method::POST,
            &format!("/api/worker/jobs/{}/complete", job.id),
            &body,
        )
        .await
    }

    /// `POST /api/worker/jobs/{id}/release`: gives the job back unfinished (this worker is
    /// shutting down); the next claim takes it at once.
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the lease was lost meanwhile.
    pub async fn release(&self, job: &ClaimedJob, reason: &str) -> Result<(), ClientError> {
        let body = ReleaseJob {
            attempt: job.attempt,
            reason: reason.to_owned(),
        };
        self.call_empty(
            Idempotent::Yes,
            Method::POST,
            &format!("/api/worker/jobs/{}/release", job.id),
            Some(&body),
        )
        .await
    }

    /// `POST /api/worker/jobs/{id}/fail`: reports a failure with its message.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn fail(&self, job: &ClaimedJob, error: &str) -> Result<(), ClientError> {
        let body = FailJob {
            attempt: job.attempt,
            error: error.to_owned(),
        };
        self.call_empty(
            Idempotent::Yes,
            Method::POST,
            &format!("/api/worker/jobs/{}/fail", job.id),
            Some(&body),
        )
        .await
    }
}
