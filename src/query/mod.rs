//! Queries: the model of SPEC section 2, the planner over the indexes, the
//! filters, sorting (with spill to disk) and cursors.

pub mod model;
pub mod sort;

pub use model::{match_one, Cursor, Field, MatchMode, Predicate, Query, Scope, Sort, SortKey};
