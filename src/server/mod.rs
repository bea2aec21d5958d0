//! The storage-independent parts of the HTTP server (`auditlog serve`,
//! SPEC section 5.3): the users file, authentication, request parameters,
//! and the two audit-log APIs' request parsing and response encoding.
//!
//! Everything but [`http`] (and its helpers `stream` and `authcache`) is
//! pure or blocking-but-local: no such module reads or writes the audit
//! log, opens a socket or spawns a task. [`http`] holds the routes and
//! handlers that call the engine; they never answer a client without going
//! through [`auth`] first, and never build a query for a client without
//! going through [`enswitch`], [`voximplant`] or [`ingest`], which enforce
//! roles and tenancy.

pub mod auth;
mod authcache;
pub mod enswitch;
pub mod http;
pub mod ingest;
pub mod params;
mod stream;
pub mod users;
pub mod voximplant;

pub use auth::{AuthError, AuthUser};
pub use enswitch::CustomerTree;
pub use http::{router, serve, AppState, ServeConfig, ShutdownHandle};
pub use params::{Limits, ParamError, Params, Separators};
pub use users::{Role, Roles, SharedUsers, User, Users};
