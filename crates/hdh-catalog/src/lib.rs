//! The catalogue's domain (capability C1): what a dataset is described by
//! (HealthDCAT-AP aligned [`metadata`]), how a Frictionless package such as the
//! SNDS schemas is read ([`package`]), how the catalogue is exported as RDF
//! ([`dcat`]) and how its structure is drawn ([`diagram`], [`chart`]).
//!
//! No I/O: callers hand in bytes and get values or text back.

pub mod chart;
pub mod dcat;
pub mod diagram;
pub mod metadata;
pub mod package;
pub mod plot;
pub mod products;
pub mod quality;
pub mod stats;

pub use metadata::{DatasetMetadata, Localized};
