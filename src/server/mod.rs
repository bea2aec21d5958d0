//! The storage-independent parts of the HTTP server (`auditlog serve`,
//! SPEC section 5.3): the users file, authentication, request parameters,
//! and the two audit-log APIs' request parsing and response encoding.
//!
//! Everything here is pure or blocking-but-local: no module reads or writes
//! the audit log, opens a socket or spawns a task. Handlers and routes that
//! call the engine live beside these modules and use them; they must never
//! answer a client without going through [`auth`] first, and never build a
//! query for a client without going through [`enswitch`] or [`voximplant`],
//! which enforce roles and tenancy.

pub mod auth;
pub mod enswitch;
pub mod params;
pub mod users;
pub mod voximplant;

pub use auth::{AuthError, AuthUser};
pub use enswitch::CustomerTree;
pub use params::{Limits, ParamError, Params, Separators};
pub use users::{Role, Roles, SharedUsers, User, Users};
