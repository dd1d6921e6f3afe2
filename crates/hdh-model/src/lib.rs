//! Domain types of the health data hub. No I/O lives here: everything in this
//! crate is pure data and pure functions (parsing, state machines, rules), so
//! that the rules of the hub can be read and tested without a database.

pub mod audit;
pub mod population;
pub mod release;
pub mod request;
pub mod role;
pub mod schema;

pub use audit::{AuditEvent, Outcome};
pub use population::{CriterionError, PopulationCriterion};
pub use request::{AccessRequestState, RequestAction, RequestDetails, TransitionError};
pub use role::Role;
