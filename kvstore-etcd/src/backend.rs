//! [`EtcdBackend`]: the backend contract on etcd v3.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{GetOptions, LeaseGrantOptions, LeaseTimeToLiveOptions};
use futures::future::{BoxFuture, FutureExt};
use kvstore_core::backend::{
    Backend, Capabilities, EventStream, Lease, LeaseId, LeaseInfo, RangeRequest, RangeResponse,
    Txn, TxnResponse, WatchRequest,
};
use kvstore_core::{Error, Result};

use crate::batch::{self, Batcher};
use crate::config::{EtcdConfig, ProgressRequests};
use crate::error::{self, Context};
use crate::keys::{etcd_revision, header_revision, Namespace};
use crate::progress::Progress;
use crate::tls_diagnosis;
use crate::{txn, watch};

/// The etcd backend. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct EtcdBackend {
    client: etcd_client::Client,
    ns: Namespace,
    request_timeout: Duration,
    watch_reconnect_timeout: Duration,
    /// Responses a watch of its own buffers for a slow consumer.
    watch_buffer: usize,
    /// Shared watches; `None` when every watch has a stream of its own.
    watches: Option<Arc<watch::Hub>>,
    /// Progress requests to the watches.
    progress: Arc<Progress>,
    /// Shares requests among concurrent writes; `None`: every write is a request of its own.
    batcher: Option<Arc<Batcher<Alone>>>,
    /// What it can do, as configured.
    capabilities: Capabilities,
}

/// The backend's requests without batching: what the batcher sends.
pub(crate) struct Alone(EtcdBackend);

impl batch::Sender for Alone {
    fn send_one(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResponse>> {
        self.0.txn_alone(txn).boxed()
    }
    fn send_batch<'a>(&'a self, txns: &'a [Txn]) -> BoxFuture<'a, Result<Vec<TxnResponse>>> {
        self.0.txn_batch(txns).boxed()
    }
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("namespace", &self.ns)
            .finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Connects and checks that the cluster answers; [`Error::Unavailable`] within the connect
    /// timeout otherwise.
    pub async fn connect(config: EtcdConfig) -> Result<Self> {
        if config.endpoints.is_empty() {
            return Err(Error::InvalidArgument("no etcd endpoint given".to_owned()));
        }
        let connecting =
            etcd_client::Client::connect(&config.endpoints, Some(config.connect_options()));
        let client = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| error::timed_out("connect", config.connect_timeout, Context::default()))?
            .map_err(|e| error::map(e, Context::default()))?;
        let backend = EtcdBackend {
            client,
            ns: Namespace::new(config.namespace.clone()),
            request_timeout: config.request_timeout,
            watch_reconnect_timeout: config.watch_reconnect_timeout,
            watch_buffer: config.watch_buffer,
            watches: config
                .shared_watch_buffer
                .map(|buffer| Arc::new(watch::Hub::new(buffer))),
            progress: Arc::new(Progress::new(config.progress_requests)),
            batcher: None,
            capabilities: capabilities(&config),
        };
        let backend = EtcdBackend {
            batcher: config
                .batch_writes
                .then(|| Batcher::new(Arc::new(Alone(backend.clone())), BATCHES_IN_FLIGHT)),
            ..backend
        };
        let first_request = async {
            match backend.current_revision().await {
                Err(err) if error::closed_by_server(&err) => {
                    // Once more: a server going away does not close a second connection.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    match backend.current_revision().await {
                        Err(err) if error::closed_by_server(&err) => {
                            let endpoint = config.endpoints.first().cloned().unwrap_or_default();
                            Err(tls_diagnosis::diagnose(&endpoint, err).await)
                        }
                        other => other,
                    }
                }
                other => other,
            }
        };
        tokio::time::timeout(config.connect_timeout, first_request)
            .await
            .map_err(|_| {
                error::timed_out("connect", config.connect_timeout, Context::default())
            })??;
        Ok(backend)
    }

    /// The release of the member that answers (e.g. `3.5.17`).
    async fn release(&self) -> Result<String> {
        let status = self
            .call("status", Context::default(), || {
                let mut maintenance = self.client.maintenance_client();
                async move { maintenance.status().await }
            })
            .await?;
        Ok(status.version().to_owned())
    }

    /// Runs one transaction in a request of its own.
    async fn txn_alone(&self, request: Txn) -> Result<TxnResponse> {
        let lease = request
            .success
            .iter()
            .chain(&request.failure)
            .find_map(|op| match op {
                kvstore_core::backend::TxnOp::Put {
                    lease: kvstore_core::backend::PutLease::Attach(id),
                    ..
                } => Some(*id),
                _ => None,
            })
            .unwrap_or(LeaseId(0));
        // Built once (which checks the request); built again only for a resend.
        let mut first = Some(txn::request(&self.ns, &request)?);
        let context = Context {
            lease,
            revision: 0,
            write: request.writes(),
        };
        let response = self
            .call("txn", context, || {
                let etcd_txn = first.take().map_or_else(
                    || {
                        txn::request(&self.ns, &request)
                            .map_err(|e| etcd_client::Error::InvalidArgs(e.to_string()))
                    },
                    Ok,
                );
                let mut kv = crate::clients::kv(&self.client);
                async move { kv.txn(etcd_txn?).await }
            })
            .await;
        let response = match response {
            // `ignore_lease` on a key that vanished between compare and put.
            Err(Error::NotFound { .. }) => {
                let key = request
                    .success
                    .iter()
                    .find_map(|op| match op {
                        kvstore_core::backend::TxnOp::Put { key, .. } => Some(key.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                return Err(Error::NotFound { key });
            }
            other => other?,
        };
        txn::response(&self.ns, &request, &response)
    }

    /// Runs `txns` as the nested transactions of one request.
    async fn txn_batch(&self, txns: &[Txn]) -> Result<Vec<TxnResponse>> {
        let mut first = Some(txn::batch(&self.ns, txns)?);
        let response = self
            .call(
                "txn batch",
                Context {
                    write: true,
                    ..Context::default()
                },
                || {
                    let etcd_txn = first.take().map_or_else(
                        || {
                            txn::batch(&self.ns, txns)
                                .map_err(|e| etcd_client::Error::InvalidArgs(e.to_string()))
                        },
                        Ok,
                    );
                    let mut kv = crate::clients::kv(&self.client);
                    async move { kv.txn(etcd_txn?).await }
                },
            )
            .await?;
        txn::batch_response(&self.ns, txns, &response)
    }

    /// The underlying etcd-client, for what kvstore does not cover.
    pub fn client(&self) -> &etcd_client::Client {
        &self.client
    }

    /// Runs one request under the request timeout, mapping its error. A request that never
    /// reached a server (the connection was refused, e.g. by a dead member of a cluster) is
    /// sent again, to another endpoint, until the timeout.
    async fn call<T, Fut>(
        &self,
        what: &str,
        context: Context,
        mut request: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        loop {
            match tokio::time::timeout_at(deadline, request()).await {
                Err(_) => return Err(error::timed_out(what, self.request_timeout, context)),
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(err))
                    if error::never_sent(&err)
                        && tokio::time::Instant::now() + RESEND_PAUSE < deadline =>
                {
                    tracing::debug!(%err, what, "request not sent, trying again");
                    tokio::time::sleep(RESEND_PAUSE).await;
                }
                Ok(Err(err)) => return Err(error::map(err, context)),
            }
        }
    }

    /// A range read, serializable when asked.
    async fn read(&self, request: RangeRequest, serializable: bool) -> Result<RangeResponse> {
        let mut options = GetOptions::new();
        if serializable {
            options = options.with_serializable();
        }
        if let Some(end) = &request.range_end {
            options = options.with_range(self.ns.key(end));
        }
        if request.limit > 0 {
            options = options.with_limit(i64::try_from(request.limit).unwrap_or(i64::MAX));
        }
        if request.revision > 0 {
            options = options.with_revision(etcd_revision(request.revision)?);
        }
        let context = Context {
            revision: request.revision,
            ..Context::default()
        };
        let key = self.ns.key(&request.key);
        let mut response = self
            .call("range", context, || {
                let (mut kv, key, options) = (
                    crate::clients::kv(&self.client),
                    key.clone(),
                    options.clone(),
                );
                async move { kv.get(key, Some(options)).await }
            })
            .await?;
        Ok(RangeResponse {
            more: response.more(),
            revision: header_revision(response.header()),
            kvs: self.ns.key_values(response.take_kvs())?,
        })
    }
}

/// Write requests in flight before concurrent writes share requests.
const BATCHES_IN_FLIGHT: usize = 2;

/// Pause before sending again a request no server received.
const RESEND_PAUSE: Duration = Duration::from_millis(20);

/// What an etcd backend configured so can do: users and roles always; progress requests
/// unless disabled (a release that cannot promise them answers `Unsupported`); TLS with the
/// `tls` feature.
fn capabilities(config: &EtcdConfig) -> Capabilities {
    let mut capabilities = Capabilities::basic().with_auth();
    if config.progress_requests != ProgressRequests::Disabled {
        capabilities = capabilities.with_progress_requests();
    }
    if cfg!(feature = "tls") {
        capabilities = capabilities.with_tls();
    }
    capabilities
}

#[async_trait]
impl Backend for EtcdBackend {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    #[tracing::instrument(level = "trace", skip(self))]
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.read(request, false).await
    }

    /// A serializable read: the member asked answers from what it has applied.
    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        self.read(RangeRequest::key(key), true).await
    }

    // The values are not recorded: a span field would format every value written.
    #[tracing::instrument(
        level = "trace",
        skip(self, request),
        fields(compares = request.compare.len(), ops = request.success.len())
    )]
    async fn txn(&self, request: Txn) -> Result<TxnResponse> {
        match &self.batcher {
            Some(batcher) => batcher.txn(request).await,
            None => self.txn_alone(request).await,
        }
    }

    #[tracing::instrument(level = "trace", skip(self))]
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        let target = watch::Target::new(
            self.client.clone(),
            self.ns.clone(),
            &request,
            self.request_timeout,
            self.watch_reconnect_timeout,
            self.watch_buffer,
            self.progress.subscribe(),
        );
        let Some(hub) = &self.watches else {
            return watch::open(target, request.start_revision).await;
        };
        let start = match request.start_revision {
            0 => watch::Start::Now,
            revision => watch::Start::At(revision),
        };
        let range = (request.key, request.range_end);
        hub.watch(target, range, start, || self.current_revision())
            .await
    }

    async fn request_progress(&self) -> Result<()> {
        self.progress.request(|| self.release()).await
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        let seconds = kvstore_core::backend::whole_seconds(ttl).as_secs();
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        let response = self
            .call("lease grant", Context::default(), || {
                let mut leases = self.client.lease_client();
                async move { leases.grant(seconds, None::<LeaseGrantOptions>).await }
            })
            .await?;
        Ok(Lease {
            id: LeaseId(response.id()),
            ttl: Duration::from_secs(u64::try_from(response.ttl()).unwrap_or(0)),
        })
    }

    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        let context = Context {
            lease,
            ..Context::default()
        };
        let renew = || {
            let mut leases = self.client.lease_client();
            async move {
                // Opening the stream renews once; a second renewal reports the time to live.
                let (mut keeper, mut responses) = leases.keep_alive(lease.0).await?;
                keeper.keep_alive().await?;
                Ok(responses.message().await?.map(|r| r.ttl()))
            }
        };
        match self.call("lease keep-alive", context, renew).await? {
            Some(ttl) if ttl > 0 => Ok(Duration::from_secs(u64::try_from(ttl).unwrap_or(0))),
            _ => Err(Error::LeaseNotFound { lease }),
        }
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let context = Context {
            lease,
            ..Context::default()
        };
        self.call("lease revoke", context, || {
            let mut leases = self.client.lease_client();
            async move { leases.revoke(lease.0).await }
        })
        .await?;
        Ok(())
    }

    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        let context = Context {
            lease,
            ..Context::default()
        };
        let response = self
            .call("lease time-to-live", context, || {
                let mut leases = self.client.lease_client();
                let options = LeaseTimeToLiveOptions::new().with_keys();
                async move { leases.time_to_live(lease.0, Some(options)).await }
            })
            .await?;
        // etcd answers -1 for a lease that expired, was revoked or never was.
        if response.ttl() < 0 {
            return Ok(None);
        }
        let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
        let keys = response
            .keys()
            .iter()
            .filter_map(|key| self.ns.inside(key))
            .collect();
        Ok(Some(LeaseInfo::new(
            lease,
            seconds(response.granted_ttl()),
            seconds(response.ttl()),
            keys,
        )))
    }

    async fn leases(&self) -> Result<Vec<LeaseId>> {
        let response = self
            .call("lease list", Context::default(), || {
                let mut leases = self.client.lease_client();
                async move { leases.leases().await }
            })
            .await?;
        let all: Vec<LeaseId> = response
            .leases()
            .iter()
            .map(|status| LeaseId(status.id()))
            .collect();
        if self.ns.is_everything() {
            return Ok(all);
        }
        // Under a namespace, the leases holding keys in it (leases are the server's).
        let mut ours = Vec::new();
        for lease in all {
            if self
                .lease_info(lease)
                .await?
                .is_some_and(|info| !info.keys.is_empty())
            {
                ours.push(lease);
            }
        }
        Ok(ours)
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        let context = Context {
            revision,
            ..Context::default()
        };
        let at = etcd_revision(revision)?;
        self.call("compact", context, || {
            let mut kv = crate::clients::kv(&self.client);
            async move { kv.compact(at, None).await }
        })
        .await?;
        Ok(())
    }

    async fn current_revision(&self) -> Result<u64> {
        // A count-only read of the namespace's root key; a user whose roles do not cover it (a
        // prefix-scoped user without a namespace) asks the member's status instead, which
        // etcd 3.4 answers to every authenticated user.
        let key = self.ns.key("/");
        let read = self
            .call("current revision", Context::default(), || {
                let (mut kv, key) = (crate::clients::kv(&self.client), key.clone());
                async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
            })
            .await;
        match read {
            Ok(response) => Ok(header_revision(response.header())),
            Err(err) if err.is_permission_denied() => {
                let status = self
                    .call("status", Context::default(), || {
                        let mut maintenance = self.client.maintenance_client();
                        async move { maintenance.status().await }
                    })
                    .await?;
                Ok(header_revision(status.header()))
            }
            Err(err) => Err(err),
        }
    }
}
