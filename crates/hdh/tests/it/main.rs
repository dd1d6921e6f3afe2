//! Integration tests: the real hub (store, lake, engine, HTTP server) started
//! in-process on a random port, against SQLite and against PostgreSQL.
//! One test binary (linking DataFusion is expensive), modules by topic.

mod accounts;
mod alerts;
mod audit_chain;
mod catalog;
mod chain;
mod cli;
mod delivery;
mod desk;
mod hostile;
mod lifecycle;
mod linkage;
mod output;
mod path;
mod sdc;
mod siem;
mod store;
mod support;
mod workspace;
