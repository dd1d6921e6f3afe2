//! The hub's side of the Arrow Flight SQL endpoint (`hdh-flight`): tokens
//! are resolved to a member of an open project, and every statement goes
//! through the sandbox (gatekeeper, limits, query log, audit) exactly as
//! from the console.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use hdh_flight::{Backend, Principal, QueryStream, TableInfo};
use tonic::Status;

use crate::auth::Caller;
use crate::{AppError, AppState};

pub struct HubFlight {
    pub state: AppState,
}

fn status(e: AppError) -> Status {
    match e.status.as_u16() {
        401 => Status::unauthenticated(e.message),
        403 => Status::permission_denied(e.message),
        404 => Status::not_found(e.message),
        409 => Status::cancelled(e.message),
        422 | 400 => Status::invalid_argument(e.message),
        429 => Status::resource_exhausted(e.message),
        _ => Status::internal(e.message),
    }
}

impl HubFlight {
    /// The token's account as a caller, re-checked on every call.
    async fn caller(&self, who: &Principal) -> Result<Caller, Status> {
        let token = self
            .state
            .store
            .token(&who.token_id)
            .await
            .map_err(|e| status(e.into()))?
            .ok_or_else(|| Status::unauthenticated("unknown token"))?;
        if token.revoked_at.is_some() {
            return Err(Status::unauthenticated("this token was revoked"));
        }
        let user = self
            .state
            .store
            .user(&who.user_id)
            .await
            .map_err(|e| status(e.into()))?
            .ok_or_else(|| Status::unauthenticated("the token's account no longer exists"))?;
        Ok(Caller {
            user,
            csrf: String::new(),
            token_hash: String::new(),
            via_cookie: false,
            client: None,
            unread: 0,
        })
    }
}

#[tonic::async_trait]
impl Backend for HubFlight {
    async fn authenticate(
        &self,
        token: &str,
        peer: Option<SocketAddr>,
    ) -> Result<Principal, Status> {
        let (t, caller) =
            crate::tokens::authenticate(&self.state, token, peer.map(|p| p.ip().to_string()))
                .await
                .map_err(status)?;
        // A member of a project whose workspace is open (checked and
        // audited as for the console).
        crate::service::open_project(&self.state, &caller, &t.project_id, "workspace.flight")
            .await
            .map_err(status)?;
        Ok(Principal {
            user_id: t.user_id,
            project_id: t.project_id,
            token_id: t.id,
        })
    }

    async fn plan(
        &self,
        who: &Principal,
        sql: &str,
    ) -> Result<datafusion::arrow::datatypes::SchemaRef, Status> {
        let caller = self.caller(who).await?;
        let scope = crate::sandbox::project_scope(&self.state, &who.project_id)
            .await
            .map_err(status)?;
        let tables: Vec<String> = scope.tables.iter().map(|t| t.name.clone()).collect();
        let scratch: Vec<String> = scope.scratch.iter().map(|t| t.name.clone()).collect();
        match hdh_workspace::gate::check(
            sql,
            &hdh_workspace::gate::Scope {
                tables: &tables,
                scratch: &scratch,
            },
        ) {
            Ok(hdh_workspace::gate::Checked::Query) => {}
            Ok(_) | Err(_) => {
                // Refused: run it through the sandbox for the refusal's
                // log, audit and message.
                return match crate::sandbox::open_stream(&self.state, &caller, &who.project_id, sql)
                    .await
                {
                    Ok(_) => Err(Status::internal("refused statement was admitted")),
                    Err(e) => Err(status(e)),
                };
            }
        }
        let ctx = crate::sandbox::session(&self.state, &scope)
            .await
            .map_err(status)?;
        hdh_workspace::query_schema(&ctx, sql)
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }

    async fn execute(&self, who: &Principal, sql: &str) -> Result<QueryStream, Status> {
        let caller = self.caller(who).await?;
        let stream = crate::sandbox::open_stream(&self.state, &caller, &who.project_id, sql)
            .await
            .map_err(status)?;
        let schema = stream.schema();
        let batches = stream
            .map(|b| b.map_err(|e| Status::aborted(e.to_string())))
            .boxed();
        Ok(QueryStream { schema, batches })
    }

    async fn tables(&self, who: &Principal) -> Result<Vec<TableInfo>, Status> {
        let caller = self.caller(who).await?;
        let scope = crate::sandbox::project_scope(&self.state, &who.project_id)
            .await
            .map_err(status)?;
        let ctx = crate::sandbox::session(&self.state, &scope)
            .await
            .map_err(status)?;
        let mut out = Vec::new();
        for (schema, list) in [
            ("public", &scope.tables),
            (hdh_workspace::SCRATCH, &scope.scratch),
        ] {
            for t in list.iter() {
                let reference = if schema == "public" {
                    datafusion::common::TableReference::bare(t.name.as_str())
                } else {
                    datafusion::common::TableReference::partial(schema, t.name.as_str())
                };
                let provider = ctx
                    .table_provider(reference)
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                out.push(TableInfo {
                    catalog: "datafusion".into(),
                    schema: schema.into(),
                    name: t.name.clone(),
                    arrow_schema: provider.schema(),
                });
            }
        }
        self.state
            .store
            .audit(
                &caller
                    .event("workspace.metadata", "project")
                    .object(&who.project_id)
                    .project(&who.project_id)
                    .details(serde_json::json!({ "channel": "flight", "tables": out.len() })),
            )
            .await
            .map_err(|e| status(e.into()))?;
        Ok(out)
    }
}

/// Serves Flight SQL for the hub on `listener` until `shutdown`.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), hdh_flight::FlightError> {
    hdh_flight::serve(listener, Arc::new(HubFlight { state }), shutdown).await
}
