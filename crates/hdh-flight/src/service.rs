//! The Flight SQL service: each call decoded, handed to the [`Backend`], and
//! its answer encoded. Authentication happened in the layer before (see
//! `auth`); every handler takes its [`Principal`] from there.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::SqlInfoDataBuilder;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginSavepointRequest, ActionBeginSavepointResult, ActionBeginTransactionRequest,
    ActionBeginTransactionResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    ActionCreatePreparedSubstraitPlanRequest, ActionEndSavepointRequest,
    ActionEndTransactionRequest, Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo,
    CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, SqlSupportedTransaction, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{handshake_token, principal};
use crate::{Backend, Principal, QueryStream, handle};

/// The only table type a project has.
const TABLE_TYPE: &str = "TABLE";

const READ_ONLY: &str = "read-only: this endpoint runs queries only";

type DoGetStream = <Endpoint as FlightService>::DoGetStream;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

pub(crate) struct Endpoint {
    backend: Arc<dyn Backend>,
}

impl Endpoint {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Endpoint { backend }
    }
}

/// Logs a call (which Flight SQL command, for whom). The audit proper is the
/// backend's.
fn log_call(call: &str, who: &Principal) {
    tracing::debug!(
        target: "hdh_flight::call",
        call,
        user = %who.user_id,
        project = %who.project_id,
        token_id = %who.token_id,
        "Flight SQL call"
    );
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("Flight SQL encoding: {e}"))
}

fn no_transaction(transaction_id: Option<&Bytes>) -> Result<(), Status> {
    match transaction_id {
        Some(_) => Err(transactions_unsupported()),
        None => Ok(()),
    }
}

fn transactions_unsupported() -> Status {
    Status::unimplemented("transactions are not supported: this endpoint is read-only")
}

fn substrait_unsupported() -> Status {
    Status::unimplemented("Substrait plans are not supported: send SQL")
}

/// The schema as it goes over the wire: dictionaries are sent as their
/// values (the encoder's default), so announced and streamed schemas agree.
fn flight_schema(schema: SchemaRef) -> SchemaRef {
    let encoder = FlightDataEncoderBuilder::new()
        .with_schema(Arc::clone(&schema))
        .build(futures::stream::empty());
    encoder.known_schema().unwrap_or(schema)
}

fn ipc_schema(schema: &Schema) -> Result<Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(internal)?;
    Ok(bytes)
}

/// A flight with one endpoint, to be fetched from this same server.
fn flight_info(
    schema: SchemaRef,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(&flight_schema(schema))
        .map_err(internal)?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn encode(query: QueryStream) -> Response<DoGetStream> {
    let batches = query
        .batches
        .map_err(arrow_flight::error::FlightError::from);
    let data = FlightDataEncoderBuilder::new()
        .with_schema(query.schema)
        .build(batches)
        .map_err(Status::from);
    Response::new(Box::pin(data))
}

fn one_batch(batch: RecordBatch) -> Response<DoGetStream> {
    encode(QueryStream {
        schema: batch.schema(),
        batches: futures::stream::once(async move { Ok(batch) }).boxed(),
    })
}

impl Endpoint {
    async fn execute(&self, who: &Principal, sql: &str) -> Result<Response<DoGetStream>, Status> {
        let query = self.backend.execute(who, sql).await?;
        Ok(encode(query))
    }

    fn sql_info() -> Result<arrow_flight::sql::metadata::SqlInfoData, Status> {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "hdh");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        // The Arrow columnar format's version.
        info.append(SqlInfo::FlightSqlServerArrowVersion, "1.5.0");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        info.append(
            SqlInfo::FlightSqlServerTransaction,
            SqlSupportedTransaction::None as i32,
        );
        info.append(SqlInfo::FlightSqlServerCancel, false);
        info.append(SqlInfo::FlightSqlServerBulkIngestion, false);
        info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        info.build().map_err(internal)
    }
}

#[tonic::async_trait]
impl FlightSqlService for Endpoint {
    type FlightService = Endpoint;

    /// HTTP Basic (any user name, the token as password) or Bearer; answers
    /// with `authorization: Bearer <token>`, which the client then sends on
    /// every call.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let peer = request.remote_addr();
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        let token = handshake_token(header)?;
        let who = self.backend.authenticate(&token, peer).await?;
        log_call("Handshake", &who);
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::unauthenticated("the token is not a valid header value"))?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::new(),
        };
        let mut response: Response<HandshakeStream> =
            Response::new(Box::pin(futures::stream::iter([Ok(answer)])));
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    // ------------------------------------------------------------ statements

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandStatementQuery)", &who);
        no_transaction(query.transaction_id.as_ref())?;
        let schema = self.backend.plan(&who, &query.query).await?;
        let ticket = TicketStatementQuery {
            statement_handle: handle::encode(&who.token_id, &query.query),
        };
        flight_info(
            schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(TicketStatementQuery)", &who);
        let sql = handle::open(&who, &ticket.statement_handle)?;
        self.execute(&who, &sql).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let who = principal(&request)?;
        log_call("DoAction(CreatePreparedStatement)", &who);
        no_transaction(query.transaction_id.as_ref())?;
        let schema = self.backend.plan(&who, &query.query).await?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle::encode(&who.token_id, &query.query),
            dataset_schema: ipc_schema(&flight_schema(schema))?,
            // No parameters: the driver binds none.
            parameter_schema: Bytes::new(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let who = principal(&request)?;
        log_call("DoAction(ClosePreparedStatement)", &who);
        // Nothing is held server-side; only check the handle is the caller's.
        handle::open(&who, &query.prepared_statement_handle).map(drop)
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandPreparedStatementQuery)", &who);
        let sql = handle::open(&who, &query.prepared_statement_handle)?;
        let schema = self.backend.plan(&who, &sql).await?;
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandPreparedStatementQuery)", &who);
        let sql = handle::open(&who, &query.prepared_statement_handle)?;
        self.execute(&who, &sql).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let who = principal(&request)?;
        log_call("DoPut(CommandPreparedStatementQuery)", &who);
        handle::open(&who, &query.prepared_statement_handle)?;
        Err(Status::invalid_argument(
            "query parameters are not supported: write the values into the SQL",
        ))
    }

    // ------------------------------------------------------------- metadata

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandGetCatalogs)", &who);
        let schema = query.into_builder().schema();
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandGetCatalogs)", &who);
        let tables = self.backend.tables(&who).await?;
        let mut builder = query.into_builder();
        let catalogs: BTreeSet<&str> = tables.iter().map(|t| t.catalog.as_str()).collect();
        for catalog in catalogs {
            builder.append(catalog);
        }
        Ok(one_batch(builder.build().map_err(internal)?))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandGetDbSchemas)", &who);
        let schema = query.clone().into_builder().schema();
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    /// Filters (catalog, schema name pattern) are applied by the builder.
    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandGetDbSchemas)", &who);
        let tables = self.backend.tables(&who).await?;
        let mut builder = query.into_builder();
        let schemas: BTreeSet<(&str, &str)> = tables
            .iter()
            .map(|t| (t.catalog.as_str(), t.schema.as_str()))
            .collect();
        for (catalog, schema) in schemas {
            builder.append(catalog, schema);
        }
        Ok(one_batch(builder.build().map_err(internal)?))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandGetTables)", &who);
        let schema = query.clone().into_builder().schema();
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    /// Filters (catalog, schema and table name patterns, table types) are
    /// applied by the builder.
    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandGetTables)", &who);
        let tables = self.backend.tables(&who).await?;
        let mut builder = query.into_builder();
        for t in tables {
            let schema = flight_schema(t.arrow_schema);
            builder
                .append(&t.catalog, &t.schema, &t.name, TABLE_TYPE, &schema)
                .map_err(internal)?;
        }
        Ok(one_batch(builder.build().map_err(internal)?))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandGetTableTypes)", &who);
        let schema = query.into_builder().schema();
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandGetTableTypes)", &who);
        let mut builder = query.into_builder();
        builder.append(TABLE_TYPE);
        Ok(one_batch(builder.build().map_err(internal)?))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = principal(&request)?;
        log_call("GetFlightInfo(CommandGetSqlInfo)", &who);
        let info = Self::sql_info()?;
        let schema = query.clone().into_builder(&info).schema();
        flight_info(schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let who = principal(&request)?;
        log_call("DoGet(CommandGetSqlInfo)", &who);
        let info = Self::sql_info()?;
        let batch = query.into_builder(&info).build().map_err(internal)?;
        Ok(one_batch(batch))
    }

    // -------------------------------------------------------------- refused

    async fn do_put_statement_update(
        &self,
        _query: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        log_call("DoPut(CommandStatementUpdate)", &principal(&request)?);
        Err(Status::permission_denied(READ_ONLY))
    }

    async fn do_put_statement_ingest(
        &self,
        _query: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        log_call("DoPut(CommandStatementIngest)", &principal(&request)?);
        Err(Status::permission_denied(READ_ONLY))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        log_call(
            "DoPut(CommandPreparedStatementUpdate)",
            &principal(&request)?,
        );
        Err(Status::permission_denied(READ_ONLY))
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        log_call(
            "DoPut(CommandStatementSubstraitPlan)",
            &principal(&request)?,
        );
        Err(Status::permission_denied(READ_ONLY))
    }

    async fn do_put_fallback(
        &self,
        request: Request<PeekableFlightDataStream>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        let who = principal(&request)?;
        log_call(&format!("DoPut({})", message.type_url), &who);
        Err(Status::permission_denied(READ_ONLY))
    }

    async fn get_flight_info_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        log_call(
            "GetFlightInfo(CommandStatementSubstraitPlan)",
            &principal(&request)?,
        );
        Err(substrait_unsupported())
    }

    async fn do_action_create_prepared_substrait_plan(
        &self,
        _query: ActionCreatePreparedSubstraitPlanRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        log_call(
            "DoAction(CreatePreparedSubstraitPlan)",
            &principal(&request)?,
        );
        Err(substrait_unsupported())
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        log_call("DoAction(BeginTransaction)", &principal(&request)?);
        Err(transactions_unsupported())
    }

    async fn do_action_end_transaction(
        &self,
        _query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        log_call("DoAction(EndTransaction)", &principal(&request)?);
        Err(transactions_unsupported())
    }

    async fn do_action_begin_savepoint(
        &self,
        _query: ActionBeginSavepointRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginSavepointResult, Status> {
        log_call("DoAction(BeginSavepoint)", &principal(&request)?);
        Err(transactions_unsupported())
    }

    async fn do_action_end_savepoint(
        &self,
        _query: ActionEndSavepointRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        log_call("DoAction(EndSavepoint)", &principal(&request)?);
        Err(transactions_unsupported())
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let who = principal(&request)?;
        let action = request.into_inner().r#type;
        log_call(&format!("DoAction({action})"), &who);
        Err(Status::unimplemented(format!(
            "action {action:?} is not supported"
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
