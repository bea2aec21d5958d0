//! Queries: the model of SPEC section 2, the planner over the indexes, the
//! filters, sorting (with spill to disk) and cursors.

pub mod model;
pub mod sort;

pub mod exec;

pub use exec::QueryIter;
pub use model::{
    match_one, Cursor, Field, MatchMode, Predicate, Query, RecordView, Scope, Sort, SortKey,
};
