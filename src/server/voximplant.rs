//! The Voximplant Management API methods of seed `000`: `GetAuditLog`,
//! `GetAuditLogAsync`, `GetHistoryReports`, `DownloadHistoryReport`.
//!
//! Owns command dispatch (`/platform_api/<Cmd>` or a `cmd` parameter),
//! parameter validation into typed requests scoped to the caller's own
//! customer, the error object `{"error":{"code":N,"msg":"..."}}`, and the
//! JSON answers (`AuditLogInfoType` rows, paged lists, the report id). It
//! never reads storage, never authenticates (the HTTP layer verifies the
//! bearer token with [`super::auth::verify_bearer`] first), never widens a
//! query beyond [`Scope::Own`] of the caller, and never echoes a parameter
//! value in an error.
//!
//! Decisions where the seed is silent (also in `docs/server.md`):
//! - unknown parameters are code 101 naming the parameter (SPEC section 7);
//!   `cmd` is accepted by every method;
//! - a list (`audit_log_id`, `filtered_admin_user_id`, `filtered_ip`,
//!   `filtered_cmd`, `history_type`) is the union of
//!   every occurrence, each split on `;`; items are trimmed, empty items
//!   dropped, at most [`MAX_LIST_ITEMS`] items; an empty list is no filter;
//! - single-valued parameters given twice with different values are 101;
//! - a missing `from_date`/`to_date` is 101, a malformed one 111;
//!   `from_date` after `to_date` is 101; `created_to` is exclusive like
//!   `to_date`;
//! - `GetAuditLog` takes `count`, `offset`, `with_total_count` and `output`
//!   (only `json`), and what the official Python client may send with it:
//!   `decimal_separator` (one character, unused: audit rows hold no
//!   decimals), `with_header`, and `is_async` (true makes it
//!   `GetAuditLogAsync`); `GetAuditLogAsync` takes `with_header`, `output`
//!   (only `csv`), and `count`/`offset` (applied when given, no maximum;
//!   without them the report holds every row); any other `output` is 105;
//! - `count` is 0..=1000 (0 answers just the totals); more is 101;
//! - `history_type` is a list; one without `audit` lists no report (only
//!   audit reports exist here);
//! - results are ordered by `requested` (ties by `audit_log_id`),
//!   `desc_order` reversing both;
//! - errors travel with HTTP status 200 and the `error` object (the seed
//!   shows no error status; clients look for `error` in the body); only
//!   internal failures use 500, and the HTTP layer keeps 413 and 400 for
//!   the body and parameter limits (SPEC section 5.3);
//! - the HTTP layer resolves the command ([`resolve_command`]) before it
//!   checks the token, so 102 and 103 do not depend on authentication.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::AuthUser;
use super::params::{ParamError, Params};
use super::users::Role;
use crate::query::{Field, MatchMode, Predicate, Query, Scope};
use crate::record::{Json, Record};
use crate::time::Timestamp;

/// Default `count`.
pub const DEFAULT_COUNT: u64 = 100;
/// Largest `count`.
pub const MAX_COUNT: u64 = 1000;
/// Most items a list parameter may hold.
pub const MAX_LIST_ITEMS: usize = 1000;

/// A Voximplant method this server implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Synchronous, paged audit log.
    GetAuditLog,
    /// Asynchronous audit log export to a CSV report.
    GetAuditLogAsync,
    /// Lists reports.
    GetHistoryReports,
    /// Downloads a completed report.
    DownloadHistoryReport,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 4] = [
        Command::GetAuditLog,
        Command::GetAuditLogAsync,
        Command::GetHistoryReports,
        Command::DownloadHistoryReport,
    ];

    /// The method name, spelt as Voximplant does.
    pub fn name(self) -> &'static str {
        match self {
            Command::GetAuditLog => "GetAuditLog",
            Command::GetAuditLogAsync => "GetAuditLogAsync",
            Command::GetHistoryReports => "GetHistoryReports",
            Command::DownloadHistoryReport => "DownloadHistoryReport",
        }
    }

    /// The command named exactly `s` (case-sensitive).
    pub fn from_name(s: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The parameters the command accepts (besides `cmd`).
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            Command::GetAuditLog => &[
                "cmd",
                "from_date",
                "to_date",
                "audit_log_id",
                "filtered_admin_user_id",
                "filtered_ip",
                "filtered_cmd",
                "advanced_filters",
                "desc_order",
                "count",
                "offset",
                "with_total_count",
                "output",
                "is_async",
                "with_header",
                "decimal_separator",
            ],
            Command::GetAuditLogAsync => &[
                "cmd",
                "from_date",
                "to_date",
                "audit_log_id",
                "filtered_admin_user_id",
                "filtered_ip",
                "filtered_cmd",
                "advanced_filters",
                "desc_order",
                "with_header",
                "output",
                "count",
                "offset",
            ],
            Command::GetHistoryReports => &[
                "cmd",
                "history_report_id",
                "history_type",
                "created_from",
                "created_to",
                "is_completed",
                "desc_order",
                "count",
                "offset",
            ],
            Command::DownloadHistoryReport => &["cmd", "history_report_id"],
        }
    }
}

/// A Voximplant error: its code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoxError {
    /// Voximplant's error code (100 authorization failed, 101 invalid
    /// arguments, 102 missing cmd, 103 unknown command, 104 forbidden, 105
    /// unsupported output format, 111 invalid date format; 500 internal).
    pub code: u32,
    /// What is wrong, for the client.
    pub msg: String,
}

impl VoxError {
    fn new(code: u32, msg: impl Into<String>) -> Self {
        VoxError {
            code,
            msg: msg.into(),
        }
    }

    /// 100: the token was refused (the reason goes to the log only).
    pub fn auth_failed() -> Self {
        VoxError::new(100, "Authorization failed")
    }

    /// 101: invalid arguments.
    pub fn invalid(msg: impl Into<String>) -> Self {
        VoxError::new(101, msg)
    }

    /// 101: `what` does not exist for this account (also used for another
    /// account's objects, so their existence is not revealed).
    pub fn not_found(what: impl fmt::Display) -> Self {
        VoxError::new(101, format!("{what} not found"))
    }

    /// 102: no command given.
    pub fn missing_cmd() -> Self {
        VoxError::new(102, "Missing cmd: give the method in the path (/platform_api/<Cmd>) or as the cmd parameter")
    }

    /// 103: unknown command.
    pub fn unknown_command(name: &str) -> Self {
        let shown: String = name.chars().take(64).collect();
        VoxError::new(
            103,
            format!(
                "Unknown command {shown:?} (this server implements {})",
                Command::ALL.map(Command::name).join(", ")
            ),
        )
    }

    /// 104: the caller's roles do not allow it.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        VoxError::new(104, msg)
    }

    /// 105: unsupported `output`.
    pub fn unsupported_output(allowed: &str) -> Self {
        VoxError::new(105, format!("Unsupported output format (only {allowed})"))
    }

    /// 111: a date that is not `YYYY-MM-DD HH:MM:SS`.
    pub fn invalid_date(param: &str) -> Self {
        VoxError::new(
            111,
            format!("Invalid date format in {param}: expected YYYY-MM-DD HH:MM:SS (UTC)"),
        )
    }

    /// 500: the server failed (details go to the log).
    pub fn internal() -> Self {
        VoxError::new(500, "Internal error")
    }

    /// The HTTP status to send: 200 (Voximplant sends errors in the body),
    /// 500 for internal failures.
    pub fn http_status(&self) -> u16 {
        if self.code == 500 {
            500
        } else {
            200
        }
    }

    /// `{"error":{"code":N,"msg":"..."}}`.
    pub fn body(&self) -> String {
        serde_json::json!({"error": {"code": self.code, "msg": self.msg}}).to_string()
    }
}

impl From<ParamError> for VoxError {
    fn from(e: ParamError) -> Self {
        VoxError::invalid(e.to_string())
    }
}

impl From<super::auth::AuthError> for VoxError {
    /// Any authentication failure is code 100; log the reason before converting.
    fn from(_: super::auth::AuthError) -> Self {
        VoxError::auth_failed()
    }
}

impl fmt::Display for VoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.msg)
    }
}

impl std::error::Error for VoxError {}

/// Which command a request names: the last path segment after
/// `/platform_api/`, or the `cmd` parameter; both may be given if they
/// agree. Missing: 102; unknown: 103; disagreeing: 101.
pub fn resolve_command(path: &str, params: &Params) -> Result<Command, VoxError> {
    let rest = path
        .strip_prefix("/platform_api")
        .ok_or_else(|| VoxError::unknown_command(path))?;
    let in_path = match rest.strip_prefix('/') {
        None if rest.is_empty() => None,
        None => return Err(VoxError::unknown_command(path)),
        Some(r) => Some(r.trim_end_matches('/')).filter(|r| !r.is_empty()),
    };
    let in_param = params.get_one("cmd")?.filter(|c| !c.is_empty());
    let name = match (in_path, in_param) {
        (Some(p), Some(c)) if p != c => {
            return Err(VoxError::invalid(
                "the cmd parameter names another method than the path",
            ))
        }
        (Some(p), _) => p,
        (None, Some(c)) => c,
        (None, None) => return Err(VoxError::missing_cmd()),
    };
    Command::from_name(name).ok_or_else(|| VoxError::unknown_command(name))
}

/// `GetAuditLog`: one page of audit entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAuditLog {
    /// The filters, scope, order, `count` (as the limit) and `offset`.
    pub query: Query,
    /// Whether to answer `total_count` (default true).
    pub with_total_count: bool,
}

/// `GetAuditLogAsync`: a CSV report of every matching entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAuditLogAsync {
    /// The filters, scope and order; no limit.
    pub query: Query,
    /// Whether the CSV starts with a header line (default true).
    pub with_header: bool,
    /// The report's file format: `output=csv` (the default) or, an
    /// extension of the API with the `parquet` feature, `output=parquet`.
    pub format: crate::export::Format,
    /// The request parameters, normalised, for the report's `filters`.
    pub filters: Value,
}

/// `GetHistoryReports`: the caller's reports, filtered and paged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetHistoryReports {
    /// The caller's customer: only its reports are listed.
    pub customer: u64,
    /// Whether `history_type` admits audit reports (absent, or a list
    /// holding `audit`); when false the answer is an empty list.
    pub audit_type: bool,
    /// Only this report.
    pub history_report_id: Option<u64>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before (exclusive).
    pub created_to: Option<Timestamp>,
    /// Only completed (`true`) or only pending (`false`) reports.
    pub is_completed: Option<bool>,
    /// Newest first.
    pub desc_order: bool,
    /// At most this many (default 100, at most 1000).
    pub count: u64,
    /// Skip this many first.
    pub offset: u64,
}

/// `DownloadHistoryReport`: one report's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadHistoryReport {
    /// The caller's customer: another customer's report is "not found".
    pub customer: u64,
    /// The report.
    pub history_report_id: u64,
}

/// A validated Voximplant request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoxRequest {
    /// `GetAuditLog`.
    GetAuditLog(GetAuditLog),
    /// `GetAuditLogAsync`.
    GetAuditLogAsync(GetAuditLogAsync),
    /// `GetHistoryReports`.
    GetHistoryReports(GetHistoryReports),
    /// `DownloadHistoryReport`.
    DownloadHistoryReport(DownloadHistoryReport),
}

/// Validates `params` for `cmd` on behalf of `caller` (already
/// authenticated): the `owner` role is required (104), unknown parameters
/// are refused (101), and every query is scoped to the caller's customer.
pub fn parse_request(
    cmd: Command,
    params: &Params,
    caller: &AuthUser,
) -> Result<VoxRequest, VoxError> {
    if !caller.has(Role::Owner) {
        return Err(VoxError::forbidden(format!(
            "{} needs the owner role",
            cmd.name()
        )));
    }
    params.reject_unknown(cmd.parameters())?;
    let customer = caller.customer;
    Ok(match cmd {
        Command::GetAuditLog if boolean(params, "is_async")? == Some(true) => {
            // The official client's `get_audit_log(is_async=True)`: the
            // same report as GetAuditLogAsync.
            VoxRequest::GetAuditLogAsync(async_request(params, customer)?)
        }
        Command::GetAuditLog => {
            output(params, "json")?;
            decimal_separator(params)?;
            let (query, _) = audit_query(params, customer)?;
            let count = count(params)?;
            let offset = uint(params, "offset")?.unwrap_or(0);
            VoxRequest::GetAuditLog(GetAuditLog {
                query: query.with_limit(count).with_offset(offset),
                with_total_count: boolean(params, "with_total_count")?.unwrap_or(true),
            })
        }
        Command::GetAuditLogAsync => VoxRequest::GetAuditLogAsync(async_request(params, customer)?),
        Command::GetHistoryReports => {
            // A list (the official client joins it with `;`); only audit
            // reports exist here, so a list without `audit` matches none.
            let types = list(params, "history_type")?;
            let audit_type = types.is_empty() || types.contains(&HISTORY_TYPE_AUDIT);
            let created_from = date(params, "created_from")?;
            let created_to = date(params, "created_to")?;
            if let (Some(f), Some(t)) = (created_from, created_to) {
                if f > t {
                    return Err(VoxError::invalid("created_from is after created_to"));
                }
            }
            VoxRequest::GetHistoryReports(GetHistoryReports {
                customer,
                audit_type,
                history_report_id: uint(params, "history_report_id")?,
                created_from,
                created_to,
                is_completed: boolean(params, "is_completed")?,
                desc_order: boolean(params, "desc_order")?.unwrap_or(false),
                count: count(params)?,
                offset: uint(params, "offset")?.unwrap_or(0),
            })
        }
        Command::DownloadHistoryReport => {
            VoxRequest::DownloadHistoryReport(DownloadHistoryReport {
                customer,
                history_report_id: uint(params, "history_report_id")?
                    .ok_or_else(|| VoxError::invalid("history_report_id is required"))?,
            })
        }
    })
}

/// The `history_type` of audit reports.
const HISTORY_TYPE_AUDIT: &str = "audit";

/// `GetAuditLogAsync`, or `GetAuditLog` with `is_async=true`: every
/// matching row unless `count` (no maximum) or `offset` are given.
fn async_request(params: &Params, customer: u64) -> Result<GetAuditLogAsync, VoxError> {
    let format = report_output(params)?;
    decimal_separator(params)?;
    let (mut query, mut filters) = audit_query(params, customer)?;
    let with_header = boolean(params, "with_header")?.unwrap_or(true);
    if let Some(n) = uint(params, "count")? {
        query = query.with_limit(n);
        filters.insert("count".into(), Value::from(n));
    }
    if let Some(n) = uint(params, "offset")? {
        query = query.with_offset(n);
        filters.insert("offset".into(), Value::from(n));
    }
    filters.insert("with_header".into(), Value::Bool(with_header));
    filters.insert("output".into(), Value::String(format.name().into()));
    Ok(GetAuditLogAsync {
        query,
        with_header,
        format,
        filters: Value::Object(filters),
    })
}

/// `decimal_separator` (sent by the official client's `get_audit_log`):
/// one character, accepted and unused, as audit rows hold no decimals.
fn decimal_separator(params: &Params) -> Result<(), VoxError> {
    match params.get_one("decimal_separator")? {
        Some(s) if s.chars().count() > 1 => Err(VoxError::invalid(
            "decimal_separator: expected one character",
        )),
        _ => Ok(()),
    }
}

/// The query shared by `GetAuditLog` and `GetAuditLogAsync`, and the
/// normalised parameters it came from.
fn audit_query(params: &Params, customer: u64) -> Result<(Query, Map<String, Value>), VoxError> {
    let mut filters = Map::new();
    let from =
        date(params, "from_date")?.ok_or_else(|| VoxError::invalid("from_date is required"))?;
    let to = date(params, "to_date")?.ok_or_else(|| VoxError::invalid("to_date is required"))?;
    if from > to {
        return Err(VoxError::invalid("from_date is after to_date"));
    }
    filters.insert("from_date".into(), Value::String(from.to_sql()));
    filters.insert("to_date".into(), Value::String(to.to_sql()));
    let desc = boolean(params, "desc_order")?.unwrap_or(false);
    let mut query = Query::new()
        .with_range(Some(from), Some(to))
        .with_scope(Scope::Own(customer))
        .with_sort(Field::Time, desc);

    let ids = list(params, "audit_log_id")?
        .into_iter()
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| VoxError::invalid("audit_log_id: every item must be an integer id"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    if !ids.is_empty() {
        filters.insert(
            "audit_log_id".into(),
            Value::String(ids.iter().map(u64::to_string).collect::<Vec<_>>().join(";")),
        );
        query = query.with_ids(ids);
    }
    for (param, field) in [
        ("filtered_admin_user_id", Field::Person),
        ("filtered_ip", Field::Source),
        ("filtered_cmd", Field::Action),
    ] {
        let items = list(params, param)?;
        if !items.is_empty() {
            filters.insert(param.into(), Value::String(items.join(";")));
            query = query.with_predicate(Predicate::any_of(field, MatchMode::Exact, items));
        }
    }
    if let Some(rel) = params
        .get_one("advanced_filters")?
        .filter(|s| !s.is_empty())
    {
        filters.insert("advanced_filters".into(), Value::String(rel.into()));
        query = query.with_predicate(Predicate::new(Field::Relation, MatchMode::Exact, rel));
    }
    filters.insert("desc_order".into(), Value::Bool(desc));
    Ok((query, filters))
}

/// The `output` of `GetAuditLogAsync`: `csv` (the default) or, with the
/// `parquet` feature, `parquet`.
fn report_output(params: &Params) -> Result<crate::export::Format, VoxError> {
    use crate::export::Format;
    match params.get_one("output")? {
        None | Some("") => Ok(Format::Csv),
        Some(o) if o.eq_ignore_ascii_case("csv") => Ok(Format::Csv),
        #[cfg(feature = "parquet")]
        Some(o) if o.eq_ignore_ascii_case("parquet") => Ok(Format::Parquet),
        Some(_) if cfg!(feature = "parquet") => Err(VoxError::unsupported_output("csv or parquet")),
        Some(_) => Err(VoxError::unsupported_output("csv")),
    }
}

fn output(params: &Params, only: &str) -> Result<(), VoxError> {
    match params.get_one("output")? {
        None | Some("") => Ok(()),
        Some(o) if o.eq_ignore_ascii_case(only) => Ok(()),
        Some(_) => Err(VoxError::unsupported_output(only)),
    }
}

fn count(params: &Params) -> Result<u64, VoxError> {
    let n = uint(params, "count")?.unwrap_or(DEFAULT_COUNT);
    if n > MAX_COUNT {
        return Err(VoxError::invalid(format!("count: at most {MAX_COUNT}")));
    }
    Ok(n)
}

/// An optional non-negative integer parameter.
fn uint(params: &Params, key: &str) -> Result<Option<u64>, VoxError> {
    match params.get_one(key)? {
        None | Some("") => Ok(None),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| VoxError::invalid(format!("{key}: expected a non-negative integer"))),
    }
}

/// An optional boolean parameter: `true`/`false`/`1`/`0`, any case.
fn boolean(params: &Params, key: &str) -> Result<Option<bool>, VoxError> {
    match params.get_one(key)?.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(Some(true)),
        Some(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(Some(false)),
        Some(_) => Err(VoxError::invalid(format!(
            "{key}: expected true, false, 1 or 0"
        ))),
    }
}

/// An optional `YYYY-MM-DD HH:MM:SS` UTC parameter; malformed is 111.
fn date(params: &Params, key: &str) -> Result<Option<Timestamp>, VoxError> {
    match params.get_one(key)? {
        None | Some("") => Ok(None),
        Some(s) => Timestamp::parse_sql(s.trim())
            .map(Some)
            .map_err(|_| VoxError::invalid_date(key)),
    }
}

/// A list parameter: every occurrence, each split on `;`, trimmed, empty
/// items dropped.
fn list<'a>(params: &'a Params, key: &str) -> Result<Vec<&'a str>, VoxError> {
    let items: Vec<&str> = params
        .get_all(key)
        .into_iter()
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_LIST_ITEMS {
        return Err(VoxError::invalid(format!(
            "{key}: at most {MAX_LIST_ITEMS} items"
        )));
    }
    Ok(items)
}

/// One `AuditLogInfoType` object, appended to `out`.
pub fn write_audit_log_info(out: &mut Vec<u8>, r: &Record) {
    #[derive(Serialize)]
    struct Info<'a> {
        audit_log_id: u64,
        account_id: u64,
        #[serde(skip_serializing_if = "str::is_empty")]
        subuser_name: &'a str,
        requested: String,
        ip: &'a str,
        cmd_name: &'a str,
        cmd_args: &'a Json,
        #[serde(skip_serializing_if = "Option::is_none")]
        cmd_result: Option<&'a Json>,
    }
    static EMPTY: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(|| Json::from_value(&Value::Object(Map::new())));
    let info = Info {
        audit_log_id: r.id,
        account_id: r.customer,
        subuser_name: &r.person,
        requested: r.time.to_sql(),
        ip: &r.source,
        cmd_name: &r.action,
        // JSON `null` counts as absent: `cmd_args` is `{}`, `cmd_result`
        // left out (SPEC 5.3).
        cmd_args: r.args.as_ref().filter(|j| !j.is_null()).unwrap_or(empty),
        cmd_result: r.result.as_ref().filter(|j| !j.is_null()),
    };
    // Borrowed strings, integers and stored (valid) JSON cannot fail.
    let _ = serde_json::to_writer(out, &info);
}

/// One `AuditLogInfoType` object, as JSON text.
pub fn audit_log_info_json(r: &Record) -> String {
    let mut out = Vec::with_capacity(256);
    write_audit_log_info(&mut out, r);
    String::from_utf8(out).unwrap_or_default()
}

/// The `GetAuditLog` answer: `{"result":[...],"count":N,"total_count":N}`;
/// `count` is the number of rows in `result`; `total_count` is left out
/// when `None` (`with_total_count=false`).
pub fn audit_log_page(rows: &[Record], total_count: Option<u64>) -> String {
    let mut out = b"{\"result\":[".to_vec();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_audit_log_info(&mut out, r);
    }
    out.extend_from_slice(format!("],\"count\":{}", rows.len()).as_bytes());
    if let Some(t) = total_count {
        out.extend_from_slice(format!(",\"total_count\":{t}").as_bytes());
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// A paged list answer for any serialisable item type (the
/// `GetHistoryReports` answer: `{"result":[HistoryReportType...],
/// "count":N,"total_count":N}`).
pub fn list_page<T: Serialize>(items: &[T], total_count: Option<u64>) -> String {
    let mut v = serde_json::json!({"result": items, "count": items.len()});
    if let (Some(t), Some(obj)) = (total_count, v.as_object_mut()) {
        obj.insert("total_count".into(), Value::from(t));
    }
    v.to_string()
}

/// The `GetAuditLogAsync` answer: `{"result":1,"history_report_id":N}`.
pub fn async_created(history_report_id: u64) -> String {
    format!("{{\"result\":1,\"history_report_id\":{history_report_id}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::params::{Limits, Separators};
    use crate::server::users::Roles;
    use crate::NewRecord;
    use serde_json::json;

    fn owner() -> AuthUser {
        AuthUser {
            username: "svc".into(),
            customer: 7,
            roles: Roles::NONE.with(Role::Owner),
        }
    }

    fn params(qs: &str) -> Params {
        Params::parse_urlencoded(qs.as_bytes(), Separators::Ampersand, Limits::default()).unwrap()
    }

    fn req(cmd: Command, qs: &str) -> Result<VoxRequest, VoxError> {
        parse_request(cmd, &params(qs), &owner())
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_sql(s).unwrap()
    }

    const RANGE: &str = "from_date=2018-02-01%2000%3A00%3A00&to_date=2018-03-01+00:00:00";

    fn audit(qs: &str) -> Result<GetAuditLog, VoxError> {
        match req(Command::GetAuditLog, &format!("{RANGE}&{qs}"))? {
            VoxRequest::GetAuditLog(r) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    fn code(r: Result<impl fmt::Debug, VoxError>) -> u32 {
        r.unwrap_err().code
    }

    #[test]
    fn async_output_formats() {
        use crate::export::Format;
        let format = |extra: &str| match req(
            Command::GetAuditLogAsync,
            &format!("from_date=2018-02-01 00:00:00&to_date=2018-03-01 00:00:00{extra}"),
        ) {
            Ok(VoxRequest::GetAuditLogAsync(r)) => Ok(r.format),
            Ok(_) => panic!("wrong request kind"),
            Err(e) => Err(e.code),
        };
        assert_eq!(format(""), Ok(Format::Csv));
        assert_eq!(format("&output=CSV"), Ok(Format::Csv));
        #[cfg(feature = "parquet")]
        assert_eq!(format("&output=parquet"), Ok(Format::Parquet));
        assert_eq!(format("&output=json"), Err(105));
        assert_eq!(format("&output=ndjson"), Err(105));
    }

    #[test]
    fn seed_example_async() {
        let qs = "from_date=2018-02-01%2000%3A00%3A00&to_date=2018-03-01%2000%3A00%3A00&audit_log_id=101&audit_log_id=102&audit_log_id=103&filtered_admin_user_id=admin_789&filtered_ip=192.168.1.10&filtered_ip=203.0.113.5&filtered_cmd=CreateUser&filtered_cmd=DeleteUser&filtered_cmd=UpdateSettings&advanced_filters=user_id&desc_order=true&with_header=true&output=csv";
        let VoxRequest::GetAuditLogAsync(r) = req(Command::GetAuditLogAsync, qs).unwrap() else {
            panic!("wrong request kind")
        };
        let q = &r.query;
        assert_eq!(q.start, Some(ts("2018-02-01 00:00:00")));
        assert_eq!(q.end, Some(ts("2018-03-01 00:00:00")));
        assert_eq!(q.scope, Some(Scope::Own(7)));
        assert_eq!(q.ids, Some(vec![101, 102, 103]));
        assert_eq!(
            q.predicates,
            vec![
                Predicate::new(Field::Person, MatchMode::Exact, "admin_789"),
                Predicate::any_of(
                    Field::Source,
                    MatchMode::Exact,
                    ["192.168.1.10", "203.0.113.5"]
                ),
                Predicate::any_of(
                    Field::Action,
                    MatchMode::Exact,
                    ["CreateUser", "DeleteUser", "UpdateSettings"]
                ),
                Predicate::new(Field::Relation, MatchMode::Exact, "user_id"),
            ]
        );
        assert_eq!(q.sort.field, Field::Time);
        assert!(q.sort.descending);
        assert_eq!(q.limit, None, "a report holds every matching row");
        assert!(r.with_header);
        assert_eq!(
            r.filters,
            json!({"from_date":"2018-02-01 00:00:00","to_date":"2018-03-01 00:00:00",
                "audit_log_id":"101;102;103","filtered_admin_user_id":"admin_789",
                "filtered_ip":"192.168.1.10;203.0.113.5","filtered_cmd":"CreateUser;DeleteUser;UpdateSettings",
                "advanced_filters":"user_id","desc_order":true,"with_header":true,"output":"csv"})
        );
        assert!(q.validate().is_ok());
    }

    #[test]
    fn both_list_forms_and_their_mix() {
        let a = audit("audit_log_id=1;2;3&filtered_ip=a;b&filtered_cmd=X")
            .unwrap()
            .query;
        let b = audit("audit_log_id=1&audit_log_id=2&audit_log_id=3&filtered_ip=a&filtered_ip=b&filtered_cmd=X").unwrap().query;
        let c = audit("audit_log_id=1;2&audit_log_id=3&filtered_ip=a%3Bb&filtered_cmd=X;")
            .unwrap()
            .query;
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.ids, Some(vec![1, 2, 3]));
        assert_eq!(a.predicates[0].values, vec!["a", "b"]);
        assert_eq!(a.predicates[1].values, vec!["X"]);
        // Spaces around items are trimmed; empty lists are no filter.
        let q = audit("audit_log_id=1;%202&filtered_ip=").unwrap().query;
        assert_eq!(q.ids, Some(vec![1, 2]));
        assert!(q.predicates.is_empty());
        assert_eq!(code(audit("audit_log_id=1;x")), 101);
        assert_eq!(code(audit("audit_log_id=-1")), 101);
        let many = vec!["1"; MAX_LIST_ITEMS + 1].join(";");
        assert_eq!(code(audit(&format!("audit_log_id={many}"))), 101);
    }

    #[test]
    fn get_audit_log_paging_and_defaults() {
        let r = audit("").unwrap();
        assert_eq!(r.query.limit, Some(DEFAULT_COUNT));
        assert_eq!(r.query.offset, 0);
        assert!(r.with_total_count);
        assert!(!r.query.sort.descending);
        assert_eq!(r.query.scope, Some(Scope::Own(7)));
        assert!(r.query.ids.is_none());
        let r =
            audit("count=1000&offset=20&with_total_count=FALSE&desc_order=1&output=json").unwrap();
        assert_eq!((r.query.limit, r.query.offset), (Some(1000), 20));
        assert!(!r.with_total_count);
        assert!(r.query.sort.descending);
        assert_eq!(audit("count=0").unwrap().query.limit, Some(0));
        assert_eq!(code(audit("count=1001")), 101);
        assert_eq!(code(audit("count=ten")), 101);
        assert_eq!(code(audit("offset=-1")), 101);
        assert_eq!(code(audit("output=csv")), 105);
        assert_eq!(code(audit("with_total_count=maybe")), 101);
        // What the official client's get_audit_log may send.
        let r = audit("with_header=True&decimal_separator=.&is_async=False").unwrap();
        assert_eq!(r.query.limit, Some(DEFAULT_COUNT));
        assert_eq!(code(audit("decimal_separator=ab")), 101);
        let VoxRequest::GetAuditLogAsync(a) = req(
            Command::GetAuditLog,
            &format!("{RANGE}&is_async=true&with_header=false"),
        )
        .unwrap() else {
            panic!("is_async=true makes a report")
        };
        assert!(!a.with_header);
        assert_eq!(a.query.limit, None);
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("1", true),
            ("false", false),
            ("FaLsE", false),
            ("0", false),
        ] {
            assert_eq!(
                audit(&format!("desc_order={v}"))
                    .unwrap()
                    .query
                    .sort
                    .descending,
                want,
                "{v}"
            );
        }
        for bad in ["yes", "2", "t"] {
            assert_eq!(code(audit(&format!("desc_order={bad}"))), 101, "{bad}");
        }
    }

    #[test]
    fn dates_and_arguments() {
        let r = |qs: &str| req(Command::GetAuditLog, qs);
        assert_eq!(
            code(r("to_date=2018-03-01 00:00:00")),
            101,
            "from_date missing"
        );
        assert_eq!(
            code(r("from_date=2018-03-01 00:00:00")),
            101,
            "to_date missing"
        );
        assert_eq!(
            code(r("from_date=2018-02-01&to_date=2018-03-01 00:00:00")),
            111
        );
        assert_eq!(
            code(r(
                "from_date=2018-02-01T00:00:00Z&to_date=2018-03-01 00:00:00"
            )),
            111
        );
        assert_eq!(
            code(r(
                "from_date=2018-02-30 00:00:00&to_date=2018-03-01 00:00:00"
            )),
            111
        );
        assert_eq!(
            code(r(
                "from_date=2018-02-01 00:00:00&to_date=1960-03-01 00:00:00"
            )),
            111
        );
        assert_eq!(
            code(r(
                "from_date=2018-03-02 00:00:00&to_date=2018-03-01 00:00:00"
            )),
            101
        );
        let e = r("from_date=x&to_date=2018-03-01 00:00:00").unwrap_err();
        assert!(e.msg.contains("from_date"), "{}", e.msg);
        // Unknown and conflicting parameters.
        let e = r(&format!("{RANGE}&filtered_person=x")).unwrap_err();
        assert_eq!(e.code, 101);
        assert!(e.msg.contains("filtered_person"), "{}", e.msg);
        // filtered_admin_user_id is a list, as the official client sends it.
        let VoxRequest::GetAuditLog(a) = r(&format!(
            "{RANGE}&filtered_admin_user_id=a&filtered_admin_user_id=b;c"
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            a.query.predicates,
            vec![Predicate::any_of(
                Field::Person,
                MatchMode::Exact,
                ["a", "b", "c"]
            )]
        );
        assert_eq!(
            code(r(&format!("{RANGE}&advanced_filters=a&advanced_filters=b"))),
            101
        );
        // The async method refuses other outputs and sync-only parameters;
        // count and offset (sent by the official client) apply when given,
        // without the synchronous maximum.
        assert_eq!(
            code(req(
                Command::GetAuditLogAsync,
                &format!("{RANGE}&output=json")
            )),
            105
        );
        assert_eq!(
            code(req(
                Command::GetAuditLogAsync,
                &format!("{RANGE}&with_total_count=1")
            )),
            101
        );
        let VoxRequest::GetAuditLogAsync(a) = req(
            Command::GetAuditLogAsync,
            &format!("{RANGE}&count=5000&offset=3"),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((a.query.limit, a.query.offset), (Some(5000), 3));
        assert_eq!(a.filters["count"], json!(5000));
        let VoxRequest::GetAuditLogAsync(a) = req(
            Command::GetAuditLogAsync,
            &format!("{RANGE}&with_header=0&output=CSV"),
        )
        .unwrap() else {
            panic!()
        };
        assert!(!a.with_header);
        assert_eq!(a.filters["with_header"], json!(false));
    }

    #[test]
    fn reports_and_download() {
        let VoxRequest::GetHistoryReports(r) = req(Command::GetHistoryReports, "").unwrap() else {
            panic!()
        };
        assert_eq!(
            r,
            GetHistoryReports {
                customer: 7,
                audit_type: true,
                history_report_id: None,
                created_from: None,
                created_to: None,
                is_completed: None,
                desc_order: false,
                count: 100,
                offset: 0
            }
        );
        let VoxRequest::GetHistoryReports(r) = req(
            Command::GetHistoryReports,
            "history_report_id=5&history_type=audit&created_from=2020-01-01 00:00:00&created_to=2020-02-01 00:00:00&is_completed=true&desc_order=1&count=3&offset=4",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.history_report_id, Some(5));
        assert_eq!(r.created_from, Some(ts("2020-01-01 00:00:00")));
        assert_eq!(r.created_to, Some(ts("2020-02-01 00:00:00")));
        assert_eq!(r.is_completed, Some(true));
        assert!(r.desc_order);
        assert_eq!((r.count, r.offset), (3, 4));
        let types = |qs: &str| match req(Command::GetHistoryReports, qs).unwrap() {
            VoxRequest::GetHistoryReports(r) => r.audit_type,
            _ => panic!(),
        };
        assert!(!types("history_type=calls"));
        assert!(types("history_type=calls;audit"));
        assert!(types("history_type="));
        assert_eq!(
            code(req(Command::GetHistoryReports, "created_from=yesterday")),
            111
        );
        assert_eq!(
            code(req(
                Command::GetHistoryReports,
                "created_from=2020-03-01 00:00:00&created_to=2020-02-01 00:00:00"
            )),
            101
        );
        assert_eq!(
            code(req(Command::GetHistoryReports, "is_completed=maybe")),
            101
        );
        assert_eq!(code(req(Command::GetHistoryReports, "count=5000")), 101);
        assert_eq!(
            code(req(
                Command::GetHistoryReports,
                "from_date=2020-01-01 00:00:00"
            )),
            101
        );

        assert_eq!(
            req(Command::DownloadHistoryReport, "history_report_id=234254").unwrap(),
            VoxRequest::DownloadHistoryReport(DownloadHistoryReport {
                customer: 7,
                history_report_id: 234254
            })
        );
        assert_eq!(code(req(Command::DownloadHistoryReport, "")), 101);
        assert_eq!(
            code(req(Command::DownloadHistoryReport, "history_report_id=abc")),
            101
        );
        assert_eq!(
            code(req(
                Command::DownloadHistoryReport,
                "history_report_id=1&count=1"
            )),
            101
        );
    }

    #[test]
    fn owner_role_is_required() {
        let mut u = owner();
        u.roles = Roles::NONE.with(Role::Audit).with(Role::Writer);
        for cmd in Command::ALL {
            let e = parse_request(cmd, &params(RANGE), &u).unwrap_err();
            assert_eq!(e.code, 104, "{cmd:?}");
        }
    }

    #[test]
    fn command_dispatch() {
        let none = params("");
        assert_eq!(
            resolve_command("/platform_api/GetAuditLog", &none).unwrap(),
            Command::GetAuditLog
        );
        assert_eq!(
            resolve_command("/platform_api/GetAuditLogAsync/", &none).unwrap(),
            Command::GetAuditLogAsync
        );
        assert_eq!(
            resolve_command("/platform_api", &params("cmd=GetHistoryReports")).unwrap(),
            Command::GetHistoryReports
        );
        assert_eq!(
            resolve_command("/platform_api/", &params("cmd=DownloadHistoryReport")).unwrap(),
            Command::DownloadHistoryReport
        );
        assert_eq!(
            resolve_command("/platform_api/GetAuditLog", &params("cmd=GetAuditLog")).unwrap(),
            Command::GetAuditLog
        );
        assert_eq!(
            resolve_command("/platform_api", &none).unwrap_err().code,
            102
        );
        assert_eq!(
            resolve_command("/platform_api/", &params("cmd="))
                .unwrap_err()
                .code,
            102
        );
        assert_eq!(
            resolve_command("/platform_api/getauditlog", &none)
                .unwrap_err()
                .code,
            103,
            "case-sensitive"
        );
        assert_eq!(
            resolve_command("/platform_api", &params("cmd=GetCallHistory"))
                .unwrap_err()
                .code,
            103
        );
        assert_eq!(
            resolve_command("/platform_apix", &none).unwrap_err().code,
            103
        );
        assert_eq!(
            resolve_command(
                "/platform_api/GetAuditLog",
                &params("cmd=GetHistoryReports")
            )
            .unwrap_err()
            .code,
            101
        );
        assert_eq!(
            resolve_command(
                "/platform_api",
                &params("cmd=GetAuditLog&cmd=GetHistoryReports")
            )
            .unwrap_err()
            .code,
            101
        );
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name()), Some(c));
            assert!(c.parameters().contains(&"cmd"));
        }
    }

    #[test]
    fn responses() {
        let with = NewRecord::new(7)
            .person("admin_7")
            .source("203.0.113.5")
            .action("CreateUser")
            .args(json!({"user_name": "alice"}))
            .result(json!({"user_id": 55}))
            .into_record(11, ts("2018-02-03 04:05:06"));
        let without = NewRecord::new(7)
            .action("GetAccountInfo")
            .into_record(12, ts("2018-02-03 04:05:07"));
        let v: Value = serde_json::from_str(&audit_log_info_json(&with)).unwrap();
        assert_eq!(
            v,
            json!({"audit_log_id":11,"account_id":7,"subuser_name":"admin_7","requested":"2018-02-03 04:05:06",
                "ip":"203.0.113.5","cmd_name":"CreateUser","cmd_args":{"user_name":"alice"},"cmd_result":{"user_id":55}})
        );
        let v: Value = serde_json::from_str(&audit_log_info_json(&without)).unwrap();
        assert_eq!(
            v,
            json!({"audit_log_id":12,"account_id":7,"requested":"2018-02-03 04:05:07","ip":"","cmd_name":"GetAccountInfo","cmd_args":{}})
        );
        // JSON null counts as absent.
        let nulls = NewRecord::new(7)
            .action("Ping")
            .args(Value::Null)
            .result(Value::Null)
            .into_record(13, ts("2018-02-03 04:05:08"));
        let v: Value = serde_json::from_str(&audit_log_info_json(&nulls)).unwrap();
        assert_eq!(
            v,
            json!({"audit_log_id":13,"account_id":7,"requested":"2018-02-03 04:05:08","ip":"","cmd_name":"Ping","cmd_args":{}})
        );
        let page: Value =
            serde_json::from_str(&audit_log_page(&[with.clone(), without.clone()], Some(40)))
                .unwrap();
        assert_eq!(page["count"], 2);
        assert_eq!(page["total_count"], 40);
        assert_eq!(page["result"][1]["audit_log_id"], 12);
        let page: Value = serde_json::from_str(&audit_log_page(&[], None)).unwrap();
        assert_eq!(page, json!({"result":[],"count":0}));
        let l: Value =
            serde_json::from_str(&list_page(&[json!({"history_report_id":1})], Some(9))).unwrap();
        assert_eq!(
            l,
            json!({"result":[{"history_report_id":1}],"count":1,"total_count":9})
        );
        assert_eq!(
            async_created(234254),
            r#"{"result":1,"history_report_id":234254}"#
        );
        let e: Value = serde_json::from_str(&VoxError::invalid_date("to_date").body()).unwrap();
        assert_eq!(e["error"]["code"], 111);
        assert!(e["error"]["msg"].as_str().unwrap().contains("to_date"));
        assert_eq!(
            VoxError::auth_failed().body(),
            r#"{"error":{"code":100,"msg":"Authorization failed"}}"#
        );
        assert_eq!(VoxError::auth_failed().http_status(), 200);
        assert_eq!(VoxError::internal().http_status(), 500);
        let auth = crate::server::auth::parse_bearer("nope").unwrap_err();
        assert_eq!(VoxError::from(auth.clone()), VoxError::auth_failed());
        assert_eq!(
            crate::server::enswitch::EnswitchError::from(auth).status,
            401
        );
        assert_eq!(VoxError::missing_cmd().code, 102);
        assert_eq!(VoxError::unsupported_output("csv").code, 105);
        assert_eq!(VoxError::forbidden("x").code, 104);
        assert_eq!(
            VoxError::not_found("history report 5").msg,
            "history report 5 not found"
        );
    }
}
