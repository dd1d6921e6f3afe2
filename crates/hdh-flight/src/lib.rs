//! Arrow Flight SQL endpoint for a project's extraction.
//!
//! A thin protocol adapter: it speaks Flight SQL (what the ADBC Flight SQL
//! driver, JDBC/ODBC bridges and DBeaver speak) and decides nothing itself.
//! Who a token belongs to, which statements are allowed, how they are
//! planned and run, which tables exist: all of it goes through [`Backend`],
//! which the hub implements (and audits). This crate knows nothing of the
//! hub's store, lake or engine; it depends on arrow and tonic only.
//!
//! What it guarantees:
//!
//! * every call but `Handshake` carries `authorization: Bearer <token>` and
//!   is refused (`unauthenticated`) unless [`Backend::authenticate`] accepts
//!   it — checked in a layer in front of every method, implemented or not;
//! * `Handshake` accepts HTTP Basic (any user name, the token as password)
//!   or Bearer, and answers with `authorization: Bearer <token>`;
//! * a statement handle or ticket carries the SQL and the id of the token
//!   that created it: it is never trusted for identity (the caller is
//!   authenticated again on every call) and is refused under another token;
//! * every statement goes through [`Backend::plan`] or [`Backend::execute`],
//!   which check it; updates, ingestion, Substrait plans, transactions and
//!   bound parameters are refused.
//!
//! Plain gRPC: put the endpoint behind TLS (or add it here) before bearer
//! tokens cross a network.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::flight_service_server::FlightServiceServer;
use futures::stream::BoxStream;
use tokio::net::TcpListener;
use tonic::Status;

mod auth;
mod handle;
mod service;

/// Who a token belongs to, as the hub resolved it. Opaque to this crate
/// except for logging and for binding statement handles to `token_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub project_id: String,
    /// The id of the token (never the token itself): statement handles and
    /// tickets are bound to it.
    pub token_id: String,
}

/// A table the principal may see, as listed by `GetTables`.
#[derive(Clone, Debug)]
pub struct TableInfo {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub arrow_schema: SchemaRef,
}

/// The result of [`Backend::execute`]: its schema (sent first, so that a
/// result without rows still has one) and its batches, which must have that
/// schema's columns and types. Dropping it (the client went away) must stop
/// the query: a DataFusion `SendableRecordBatchStream` does.
pub struct QueryStream {
    pub schema: SchemaRef,
    pub batches: BoxStream<'static, Result<RecordBatch, Status>>,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Everything decisive: the hub implements it.
///
/// Errors are returned to the client as they are: give them clear messages
/// and the right codes (`unauthenticated`, `permission_denied`,
/// `invalid_argument`, `resource_exhausted`, `internal`).
#[tonic::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Resolves a bearer token (unknown, expired, revoked →
    /// `Status::unauthenticated`, with a clear message). Called once per
    /// call (gRPC request); `peer` is for the audit.
    async fn authenticate(
        &self,
        token: &str,
        peer: Option<SocketAddr>,
    ) -> Result<Principal, Status>;

    /// Checks and plans a statement; returns its result schema without
    /// running it. Refusals (out of scope, not allowed) come back as
    /// `Status::permission_denied` / `invalid_argument` and are audited by
    /// the backend. A statement may be planned more than once (when
    /// prepared, then when its flight info is asked for) before it runs.
    async fn plan(&self, who: &Principal, sql: &str) -> Result<SchemaRef, Status>;

    /// Checks, runs and logs a statement, streaming its batches.
    async fn execute(&self, who: &Principal, sql: &str) -> Result<QueryStream, Status>;

    /// The tables the principal may see (its project's only). Metadata
    /// calls are audited by the backend. Called once per `DoGet` of
    /// `GetCatalogs`, `GetDbSchemas` and `GetTables`; their filters are
    /// applied here, on what it returns.
    async fn tables(&self, who: &Principal) -> Result<Vec<TableInfo>, Status>;
}

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlightError {
    #[error("Flight SQL endpoint: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves Flight SQL on `listener` until `shutdown` resolves (then lets the
/// calls in progress finish).
pub async fn serve(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FlightError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(target: "hdh_flight", %addr, "Flight SQL endpoint listening");
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .layer(auth::AuthLayer::new(Arc::clone(&backend)))
        .add_service(FlightServiceServer::new(service::Endpoint::new(backend)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
