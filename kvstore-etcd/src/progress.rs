//! Progress requests: whether this server's answers can be trusted, and the signal that
//! asks every open watch of the backend for one.

use kvstore_core::{Error, Result};
use tokio::sync::{watch, OnceCell};

use crate::config::ProgressRequests;

/// Asks the watches of one backend for progress.
pub(crate) struct Progress {
    policy: ProgressRequests,
    /// Whether the server orders progress answers with events, learnt once (`Auto`).
    trusted: OnceCell<bool>,
    /// Counts requests; every watch answers the latest it has seen.
    requests: watch::Sender<u64>,
}

impl Progress {
    pub fn new(policy: ProgressRequests) -> Self {
        Progress {
            policy,
            trusted: OnceCell::new(),
            requests: watch::Sender::new(0),
        }
    }

    /// What a watch listens to for requests.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.requests.subscribe()
    }

    /// Asks every watch for progress, if the server can be trusted with it; `release` reads
    /// the server's release (for [`ProgressRequests::Auto`]: once it answered, or refused for
    /// lack of rights; until then each request asks, and declines meanwhile).
    pub async fn request<F>(&self, release: impl FnOnce() -> F) -> Result<()>
    where
        F: std::future::Future<Output = Result<String>>,
    {
        let trusted = match self.policy {
            ProgressRequests::Enabled => true,
            ProgressRequests::Disabled => false,
            ProgressRequests::Auto => {
                let known = self
                    .trusted
                    .get_or_try_init(|| async {
                        match release().await {
                            Ok(version) => {
                                let fixed = orders_progress(&version);
                                tracing::info!(
                                    version,
                                    fixed,
                                    "etcd release read for watch progress requests"
                                );
                                Ok(fixed)
                            }
                            // A user without the right to ask: it will not have it later.
                            Err(err) if err.is_permission_denied() => {
                                tracing::info!(
                                    %err,
                                    "etcd release unknown: no watch progress requests"
                                );
                                Ok(false)
                            }
                            // Not known yet: asked again by the next request.
                            Err(err) => Err(err),
                        }
                    })
                    .await;
                match known {
                    Ok(trusted) => *trusted,
                    Err(err) => {
                        tracing::debug!(%err, "etcd release not read; no progress request now");
                        false
                    }
                }
            }
        };
        if !trusted {
            return Err(Error::Unsupported {
                what: "watch progress requests (the etcd release may answer them before \
                       events; see ProgressRequests)"
                    .to_owned(),
            });
        }
        self.requests.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// Whether etcd release `version` (e.g. `3.5.17`) sends requested progress in order with the
/// events of the watch: 3.4.25+, 3.5.8+, 3.6+ (etcd issue 15220, fixed by etcd PR 15237).
pub(crate) fn orders_progress(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>());
    let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match (major, minor) {
        (3, 4) => patch >= 25,
        (3, 5) => patch >= 8,
        (3, m) => m >= 6,
        (m, _) => m > 3,
    }
}

#[cfg(test)]
mod tests {
    use super::{orders_progress, Progress, ProgressRequests};
    use kvstore_core::Error;

    #[tokio::test]
    async fn auto_asks_again_after_a_failed_read_and_remembers_an_answer() {
        let progress = Progress::new(ProgressRequests::Auto);
        let unavailable = || async {
            Err(Error::Unavailable {
                message: "down".to_owned(),
                source: None,
            })
        };
        let fixed = || async { Ok("3.5.17".to_owned()) };
        let denied = || async {
            Err(Error::PermissionDenied {
                message: "no".to_owned(),
            })
        };
        assert!(progress
            .request(unavailable)
            .await
            .unwrap_err()
            .is_unsupported());
        progress.request(fixed).await.unwrap();
        // Remembered: not asked again.
        progress.request(unavailable).await.unwrap();

        let progress = Progress::new(ProgressRequests::Auto);
        assert!(progress.request(denied).await.unwrap_err().is_unsupported());
        assert!(progress.request(fixed).await.unwrap_err().is_unsupported());
    }

    #[test]
    fn fixed_releases_are_recognised() {
        for fixed in ["3.4.25", "3.5.8", "3.5.17", "3.6.0", "v3.6.1", "4.0.0"] {
            assert!(orders_progress(fixed), "{fixed}");
        }
        for affected in ["3.4.23", "3.5.7", "3.3.27", "3.5", "", "garbage", "3.x.1"] {
            assert!(!orders_progress(affected), "{affected}");
        }
    }
}
