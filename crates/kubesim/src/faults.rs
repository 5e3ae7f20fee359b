//! Fault injection: added latency and failing the next N requests with a chosen status.
//! Going down and closing watches live on [`crate::Sim`].

use std::sync::Mutex;
use std::time::Duration;

use crate::error::ApiError;

/// What to do to the next requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultSpec {
    /// Latency added before every request is served, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// How many of the next requests fail.
    #[serde(default)]
    pub fail_next: u32,
    /// The HTTP status they fail with: 500, 503 or 429 (default 500).
    #[serde(default)]
    pub fail_status: Option<u16>,
    /// `Retry-After` seconds sent with a 429 or 503.
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    /// How late every watch event reaches its watchers, in milliseconds after the change was
    /// committed (order kept): a client's cache that lags the API server, as a busy watch
    /// cache or a slow network makes it. Reads and writes are not delayed.
    #[serde(default)]
    pub watch_delay_ms: u64,
}

/// The faults in force.
#[derive(Debug, Default)]
pub struct Faults {
    spec: Mutex<FaultSpec>,
}

impl Faults {
    /// Replaces the faults in force.
    pub fn set(&self, spec: FaultSpec) {
        *self.spec.lock().unwrap_or_else(|e| e.into_inner()) = spec;
    }

    /// The faults in force.
    pub fn get(&self) -> FaultSpec {
        self.spec.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies the faults to one request: waits the added latency, then fails it if a
    /// failure is pending.
    pub async fn before_request(&self) -> Result<(), ApiError> {
        let (latency, fail) = {
            let mut s = self.spec.lock().unwrap_or_else(|e| e.into_inner());
            let fail = if s.fail_next > 0 {
                s.fail_next -= 1;
                Some((s.fail_status.unwrap_or(500), s.retry_after_seconds))
            } else {
                None
            };
            (s.latency_ms, fail)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        match fail {
            Some((code, retry)) => Err(ApiError::injected(code, retry)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fails_exactly_n_requests() {
        let f = Faults::default();
        f.set(FaultSpec { fail_next: 2, fail_status: Some(503), retry_after_seconds: Some(1), ..Default::default() });
        assert_eq!(f.before_request().await.map_err(|e| e.code), Err(503));
        assert_eq!(f.before_request().await.map_err(|e| e.retry_after), Err(Some(1)));
        assert!(f.before_request().await.is_ok());
    }
}
