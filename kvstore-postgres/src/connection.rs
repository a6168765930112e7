//! The connections to the server: a pool that opens new ones after a restart, every call one
//! statement within the request timeout.

use std::sync::atomic::AtomicBool;

use kvstore_core::engine::Head;
use kvstore_core::Result;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::{corrupt, pool_error, store_error, timed_out, Sent};
use crate::rows::head;
use crate::statements as sql;

/// What the storage and its listener share.
pub(crate) struct Shared {
    pub(crate) pool: deadpool_postgres::Pool,
    pub(crate) config: crate::PostgresConfig,
    /// The TLS connector, when the server is reached over TLS.
    pub(crate) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The channel writes notify: one per schema.
    pub(crate) channel: String,
    /// Whether a `VACUUM` after a compaction is running.
    pub(crate) vacuuming: AtomicBool,
}

impl Shared {
    /// Runs `statement` with `params` on a pooled connection within the request timeout.
    pub(crate) async fn query(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
        sent: Sent,
    ) -> Result<Vec<Row>> {
        let call = async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let prepared = client
                .prepare_cached(statement)
                .await
                .map_err(|e| store_error(e, Sent::Nothing))?;
            client
                .query(&prepared, params)
                .await
                .map_err(|e| store_error(e, sent))
        };
        tokio::time::timeout(self.config.request_timeout, call)
            .await
            .map_err(|_| timed_out(sent))?
    }

    pub(crate) async fn head(&self) -> Result<Head> {
        let rows = self.query(sql::HEAD, &[], Sent::Nothing).await?;
        let row = rows
            .first()
            .ok_or_else(|| corrupt("kvstore_meta has no row".to_owned()))?;
        head(row)
    }
}
