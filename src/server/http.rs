//! The HTTP server of `auditlog serve` (SPEC section 5.3): routes, request
//! plumbing, limits, logging, signals and the runtime.
//!
//! Owns turning HTTP requests into calls of the modules beside it (reading
//! parameters and bodies within the limits, authenticating through
//! [`super::auth`], validating through [`super::enswitch`],
//! [`super::voximplant`] and [`super::ingest`]) and their answers into HTTP
//! responses, streamed where they can be large. It holds no storage logic:
//! every read and write is one call of the [`AuditLog`] API, run on a
//! blocking thread. It never answers a client before authentication,
//! never logs a password, a token or a query string (which may carry a
//! password), and never panics on client input (a panic in a handler is
//! caught and answered with a 500).
//!
//! Routes:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET, POST | `/api/json/audit/list`, `/api/json/audit/list/` | Enswitch `audit/list` |
//! | GET, POST | `/platform_api/<Cmd>`, `/platform_api` (+ `cmd`) | Voximplant methods |
//! | POST | `/api/v1/records` | NDJSON ingestion |
//! | GET | `/api/v1/checkpoint` | a fresh signed checkpoint (role `owner`) |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_DISPOSITION, CONTENT_ENCODING,
    CONTENT_LENGTH, CONTENT_TYPE, VARY, WWW_AUTHENTICATE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::auth::{self, AuthError, AuthUser, Password};
use super::authcache::AuthCache;
use super::enswitch::{self, EnswitchError, RowWriter};
use super::ingest::{self, IngestError};
use super::params::{Limits, ParamError, Params, Separators};
use super::stream;
use super::users::SharedUsers;
use super::voximplant::{self, VoxError, VoxRequest};
use crate::error::{Error, Result};
use crate::export::Layout;
use crate::report::{Customers, DownloadEncoding, NewReport, Report, ReportFilter};
use crate::time::Timestamp;
use crate::AuditLog;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default largest ingestion body: 32 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;
/// Default largest parameter body of the Enswitch and Voximplant methods:
/// 1 MiB.
pub const DEFAULT_MAX_FORM_BYTES: usize = 1 << 20;
/// Default time a request may take until its answer starts: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time in-flight requests get to finish after SIGTERM: 30 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default time a verified password is remembered: 60 s.
pub const DEFAULT_AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// How much of an over-limit body is still read (and thrown away) so that
/// the client can read the 413 instead of a reset connection.
const DRAIN_BYTES: u64 = 8 << 20;

/// How `auditlog serve` runs. Build with [`ServeConfig::new`]; every field
/// states its default.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The address to listen on. Defaults to `127.0.0.1:8080`; port 0
    /// picks a free port (reported through `serve`'s `ready`).
    pub listen: SocketAddr,
    /// The users file (TOML, SPEC section 5.3). Required.
    pub users: PathBuf,
    /// Most rows one Enswitch `audit/list` answer may hold; more is a 400
    /// with key `end`. Defaults to 1,000,000.
    pub row_cap: u64,
    /// Largest ingestion body, in bytes (413 beyond). Defaults to 32 MiB.
    pub max_body_bytes: usize,
    /// Largest parameter body of the Enswitch and Voximplant methods, in
    /// bytes (413 beyond). Defaults to 1 MiB.
    pub max_form_bytes: usize,
    /// Parameter count and length limits (400 beyond). Defaults to 256
    /// parameters, names of 256 bytes, values of 64 KiB.
    pub limits: Limits,
    /// Time a request may take until its answer starts (reading the body,
    /// authenticating, counting, planning); a streamed answer then takes
    /// as long as the client reads. An ingestion that reached the log is
    /// always waited for. Defaults to 60 s.
    pub request_timeout: Duration,
    /// After SIGTERM or SIGINT (or [`ShutdownHandle::trigger`]), time
    /// in-flight requests get to finish before they are dropped. Defaults
    /// to 30 s.
    pub shutdown_grace: Duration,
    /// How long a successful password verification is remembered
    /// (see [`super::authcache`]); zero verifies every request. Defaults
    /// to 60 s.
    pub auth_cache_ttl: Duration,
    /// Async worker threads. Defaults to the number of CPUs.
    pub worker_threads: Option<usize>,
    /// Whether SIGHUP (reload the users file), SIGTERM and SIGINT (shut
    /// down gracefully) are handled. Defaults to true; tests that run
    /// servers inside their own process turn it off.
    pub handle_signals: bool,
    /// A handle to stop the server from another thread. Defaults to none.
    pub shutdown: Option<ShutdownHandle>,
}

impl ServeConfig {
    /// The defaults, with the users file at `users`.
    pub fn new(users: impl Into<PathBuf>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            users: users.into(),
            row_cap: enswitch::DEFAULT_ROW_CAP,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_form_bytes: DEFAULT_MAX_FORM_BYTES,
            limits: Limits::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            auth_cache_ttl: DEFAULT_AUTH_CACHE_TTL,
            worker_threads: None,
            handle_signals: true,
            shutdown: None,
        }
    }

    /// Sets the listen address. Defaults to `127.0.0.1:8080`.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Sets the Enswitch row cap. Defaults to 1,000,000.
    #[must_use]
    pub fn row_cap(mut self, rows: u64) -> Self {
        self.row_cap = rows;
        self
    }

    /// Sets the largest ingestion body. Defaults to 32 MiB.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the largest parameter body. Defaults to 1 MiB.
    #[must_use]
    pub fn max_form_bytes(mut self, bytes: usize) -> Self {
        self.max_form_bytes = bytes;
        self
    }

    /// Sets the parameter limits. Defaults to [`Limits::default`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the request timeout. Defaults to 60 s.
    #[must_use]
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Sets the shutdown grace period. Defaults to 30 s.
    #[must_use]
    pub fn shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }

    /// Sets how long verified passwords are remembered. Defaults to 60 s.
    #[must_use]
    pub fn auth_cache_ttl(mut self, t: Duration) -> Self {
        self.auth_cache_ttl = t;
        self
    }

    /// Sets the number of async worker threads. Defaults to the CPUs.
    #[must_use]
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n.max(1));
        self
    }

    /// Whether signals are handled. Defaults to true.
    #[must_use]
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// Stops the server when `handle` is triggered. Defaults to none.
    #[must_use]
    pub fn shutdown_on(mut self, handle: ShutdownHandle) -> Self {
        self.shutdown = Some(handle);
        self
    }
}

/// Stops a running server gracefully, like SIGTERM, from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        ShutdownHandle(Arc::new(watch::channel(false).0))
    }

    /// Asks the server to stop: it stops accepting, finishes in-flight
    /// requests (within the grace period), syncs the log and `serve`
    /// returns.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Default for ShutdownHandle {
    fn default() -> Self {
        Self::new()
    }
}

/// What the handlers share: the log, the users in force, the settings.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    log: AuditLog,
    users: SharedUsers,
    cache: AuthCache,
    /// Bounds concurrent argon2 verifications (each takes ~19 MiB and a
    /// CPU for tens of milliseconds): a flood of logins queues here
    /// instead of exhausting memory on the blocking pool.
    password_checks: tokio::sync::Semaphore,
    row_cap: u64,
    max_body_bytes: usize,
    max_form_bytes: usize,
    limits: Limits,
    request_timeout: Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("log", &self.inner.log)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server over `log` with `users`, configured by `cfg`
    /// (its `users` path is not read: `users` is used as given).
    pub fn new(log: AuditLog, users: SharedUsers, cfg: &ServeConfig) -> Self {
        AppState {
            inner: Arc::new(StateInner {
                log,
                users,
                cache: AuthCache::new(cfg.auth_cache_ttl),
                password_checks: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
                ),
                row_cap: cfg.row_cap,
                max_body_bytes: cfg.max_body_bytes,
                max_form_bytes: cfg.max_form_bytes,
                limits: cfg.limits,
                request_timeout: cfg.request_timeout,
            }),
        }
    }

    /// Re-reads the users file (what SIGHUP does); on an error the users
    /// in force stay. Returns the number of users now in force.
    pub fn reload_users(&self) -> Result<usize> {
        let n = self.inner.users.reload()?;
        self.inner.cache.clear();
        Ok(n)
    }

    fn log(&self) -> &AuditLog {
        &self.inner.log
    }

    /// Verifies a password off the async workers (or remembers it did).
    async fn verify_password(
        &self,
        username: String,
        password: Password,
    ) -> std::result::Result<AuthUser, AuthError> {
        let users = self.inner.users.current();
        if let Some(u) = self.inner.cache.get(&users, &username, password.expose()) {
            return Ok(u);
        }
        let _permit = self
            .inner
            .password_checks
            .acquire()
            .await
            .map_err(|_| AuthError::new("the server is shutting down"))?;
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let r = auth::verify_password(&users, &username, password.expose());
            if let Ok(u) = &r {
                st.inner.cache.put(&users, &username, password.expose(), u);
            }
            r
        })
        .await
        .unwrap_or_else(|e| Err(AuthError::new(format!("verification task failed: {e}"))))
    }
}

/// The routes, with request logging and panic catching, over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/json/audit/list",
            get(enswitch_list).post(enswitch_list),
        )
        .route(
            "/api/json/audit/list/",
            get(enswitch_list).post(enswitch_list),
        )
        .route("/platform_api", get(platform_api).post(platform_api))
        .route("/platform_api/", get(platform_api).post(platform_api))
        .route("/platform_api/{*cmd}", get(platform_api).post(platform_api))
        .route("/api/v1/records", post(ingest_records))
        .route("/api/v1/customers", post(set_customers))
        .route("/api/v1/checkpoint", get(checkpoint))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn(log_requests))
        .with_state(state)
}

/// Serves `log` until SIGTERM/SIGINT (or `cfg.shutdown`), then finishes
/// in-flight requests, syncs the log and returns.
///
/// Builds its own multi-threaded tokio runtime. Loads the users file first
/// (an error there is returned before anything listens). Once listening,
/// sends the bound address on `ready` (useful with port 0).
pub fn serve(
    log: AuditLog,
    cfg: ServeConfig,
    ready: Option<std::sync::mpsc::Sender<SocketAddr>>,
) -> Result<()> {
    let users = SharedUsers::open(&cfg.users)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all().thread_name("auditlog-http");
    if let Some(n) = cfg.worker_threads {
        rt.worker_threads(n);
    }
    let rt = rt
        .build()
        .map_err(|e| Error::invalid("server", format!("cannot start the async runtime: {e}")))?;
    // The dummy hash unknown users are verified against, computed before
    // the first request so that request is not slower than the others.
    auth::warm_up();
    let state = AppState::new(log.clone(), users, &cfg);
    let outcome = rt.block_on(run(state, cfg, ready));
    // Requests past the grace period may still be on blocking threads:
    // give them a moment, then sync whatever they appended.
    rt.shutdown_timeout(Duration::from_secs(5));
    let synced = log.sync();
    match &synced {
        Ok(()) => tracing::info!("log synced; server stopped"),
        Err(e) => tracing::error!(error = %e, "syncing the log at shutdown failed"),
    }
    outcome.and(synced)
}

async fn run(
    state: AppState,
    cfg: ServeConfig,
    ready: Option<std::sync::mpsc::Sender<SocketAddr>>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Error::invalid("listen", format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::invalid("listen", format!("no local address: {e}")))?;
    tracing::info!(%addr, "listening");
    if let Some(tx) = ready {
        let _ = tx.send(addr);
    }
    let stop = cfg.shutdown.clone().unwrap_or_default();
    if cfg.handle_signals {
        tokio::spawn(handle_signals(state.clone(), stop.clone()));
    }
    let mut on_stop = stop.0.subscribe();
    let mut grace_over = stop.0.subscribe();
    let grace = cfg.shutdown_grace;
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        let _ = on_stop.wait_for(|s| *s).await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
    });
    tokio::select! {
        r = server => r.map_err(|e| Error::invalid("server", format!("serving failed: {e}")))?,
        _ = async move {
            let _ = grace_over.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "requests still running after the grace period are dropped");
        }
    }
    Ok(())
}

#[cfg(unix)]
async fn handle_signals(state: AppState, stop: ShutdownHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; SIGHUP/SIGTERM are not handled");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let st = state.clone();
                match tokio::task::spawn_blocking(move || st.reload_users()).await {
                    Ok(Ok(n)) => tracing::info!(users = n, "SIGHUP: users file reloaded"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "SIGHUP: users file not reloaded; the previous users stay in force"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload task failed"),
                }
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM received");
                stop.trigger();
                return;
            }
            _ = int.recv() => {
                tracing::info!("SIGINT received");
                stop.trigger();
                return;
            }
        }
    }
}

#[cfg(not(unix))]
async fn handle_signals(_state: AppState, stop: ShutdownHandle) {
    if tokio::signal::ctrl_c().await.is_ok() {
        stop.trigger();
    }
}

// ---------------------------------------------------------------------
// Request logging.

/// Who made a request, for the request log (set by the handlers).
#[derive(Clone, Debug)]
struct LoggedUser(String);

/// The API-level outcome when it differs from the HTTP status (Voximplant
/// error codes travel with status 200).
#[derive(Clone, Copy, Debug)]
struct LoggedCode(u32);

async fn log_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // The path only: a query string may carry a password.
    let path: String = req.uri().path().chars().take(200).collect();
    let resp = next.run(req).await;
    let user = resp
        .extensions()
        .get::<LoggedUser>()
        .map_or("-", |u| u.0.as_str());
    let code = resp.extensions().get::<LoggedCode>().map(|c| c.0);
    let status = resp.status().as_u16();
    let ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    if status >= 500 {
        tracing::warn!(target: "auditlog::http", %method, %path, user, status, code, duration_ms = ms, "request");
    } else {
        tracing::info!(target: "auditlog::http", %method, %path, user, status, code, duration_ms = ms, "request");
    }
    resp
}

fn with_user(mut resp: Response, user: Option<String>) -> Response {
    if let Some(u) = user {
        let shown: String = u.chars().take(64).collect();
        resp.extensions_mut().insert(LoggedUser(shown));
    }
    resp
}

fn log_auth_failure(e: &AuthError) {
    tracing::warn!(target: "auditlog::http", reason = e.reason(), "authentication failed");
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(target: "auditlog::http", "a request handler panicked");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"error":{"code":500,"message":"internal error"}}"#,
    )
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        r#"{"error":{"code":404,"message":"no such endpoint (see docs/server.md)"}}"#,
    )
}

// ---------------------------------------------------------------------
// Bodies and parameters.

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

enum BodyError {
    TooLarge(usize),
    Read(String),
}

/// Reads a whole body of at most `limit` bytes. Over the limit, up to
/// [`DRAIN_BYTES`] more are read and dropped so the client can read the
/// 413 (the connection is closed after it either way).
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> std::result::Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    let too_large = |mut seen: u64, mut stream: axum::body::BodyDataStream| async move {
        while seen <= limit as u64 + DRAIN_BYTES {
            match stream.next().await {
                Some(Ok(c)) => seen += c.len() as u64,
                _ => break,
            }
        }
        BodyError::TooLarge(limit)
    };
    if let Some(n) = declared {
        if n > limit as u64 {
            if n <= limit as u64 + DRAIN_BYTES {
                return Err(too_large(0, stream).await);
            }
            return Err(BodyError::TooLarge(limit));
        }
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(8192, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(format!("reading the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large((buf.len() + chunk.len()) as u64, stream).await);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

enum ParamsError {
    TooLarge(usize),
    Param(ParamError),
}

/// The query string, then the body's parameters, as one list.
async fn request_params(
    st: &AppState,
    parts: &Parts,
    body: Body,
    seps: Separators,
) -> std::result::Result<Params, ParamsError> {
    let limits = st.inner.limits;
    let mut params = Params::parse_urlencoded(
        parts.uri.query().unwrap_or_default().as_bytes(),
        seps,
        limits,
    )
    .map_err(ParamsError::Param)?;
    let bytes = match read_body(body, &parts.headers, st.inner.max_form_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(n)) => return Err(ParamsError::TooLarge(n)),
        Err(BodyError::Read(m)) => return Err(ParamsError::Param(ParamError::new("", m))),
    };
    let ct = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body_params = Params::parse_body(bytes, ct, seps, limits)
        .await
        .map_err(ParamsError::Param)?;
    params.merge(body_params).map_err(ParamsError::Param)?;
    Ok(params)
}

/// Runs blocking engine work off the async workers.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::invalid(
            "server",
            format!("a blocking task failed: {e}"),
        ))
    })
}

fn too_large_message(limit: usize) -> String {
    format!("the request body is larger than the limit of {limit} bytes")
}

// ---------------------------------------------------------------------
// Enswitch audit/list.

async fn enswitch_list(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    let timeout = st.inner.request_timeout;
    let resp = match tokio::time::timeout(timeout, enswitch_inner(&st, req, &mut user)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => enswitch_error(&e),
        Err(_) => enswitch_error(&EnswitchError {
            status: 503,
            key: String::new(),
            message: format!(
                "The request took longer than {} s; ask for a narrower range.",
                timeout.as_secs()
            ),
        }),
    };
    with_user(resp, user)
}

fn enswitch_error(e: &EnswitchError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(status, e.body());
    if e.status == 413 {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn enswitch_inner(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Response, EnswitchError> {
    let (parts, body) = req.into_parts();
    let params = match request_params(st, &parts, body, Separators::AmpersandOrSemicolon).await {
        Ok(p) => p,
        Err(ParamsError::TooLarge(n)) => {
            return Err(EnswitchError {
                status: 413,
                key: String::new(),
                message: too_large_message(n),
            })
        }
        Err(ParamsError::Param(e)) => return Err(e.into()),
    };
    let (username, password) = enswitch::credentials(&params)?;
    *who = Some(username.clone());
    let user = st
        .verify_password(username, password)
        .await
        .inspect_err(log_auth_failure)?;
    let tree = st.log().customer_tree();
    let request = enswitch::parse_audit_list(&params, &user, &*tree, Timestamp::now())?;
    let mut query = request.query;
    // One snapshot for the count and the rows: records appended meanwhile
    // are in neither.
    query.until_id = Some(st.log().last_id());

    // Read the first rows; only an answer that does not end within them
    // is counted (for the row cap) before it streams, so a small answer
    // costs one pass over the log, not two.
    let log = st.log().clone();
    let cap = st.inner.row_cap;
    let prefetch = PREFETCH_ROWS.min(usize::try_from(cap).unwrap_or(usize::MAX).saturating_add(1));
    let (first, rest) = blocking(move || {
        let mut rows = log.query(&query)?;
        let mut first = Vec::new();
        for row in rows.by_ref() {
            first.push(row?);
            if first.len() >= prefetch {
                let count = log.count(&query)?;
                return Ok((first, Some((rows, count))));
            }
        }
        Ok((first, None))
    })
    .await
    .map_err(|e| internal_enswitch(&e))?;
    let count = rest.as_ref().map_or(first.len() as u64, |(_, c)| *c);
    if count > cap {
        return Err(EnswitchError::too_many_rows(count, cap));
    }
    let body = stream::blocking_body(move |sink| {
        sink.buf()
            .extend_from_slice(enswitch::envelope_head().as_bytes());
        let mut w = RowWriter::new();
        let tail = rest.into_iter().flat_map(|(rows, _)| rows);
        for row in first.into_iter().map(Ok).chain(tail) {
            let r = row?;
            w.push(sink.buf(), &r);
            if !sink.flush_if_full() {
                tracing::info!(target: "auditlog::http", rows = w.count(), "client left during an audit/list answer");
                return Ok(());
            }
        }
        sink.buf()
            .extend_from_slice(enswitch::envelope_tail().as_bytes());
        Ok(())
    })
    .await
    .map_err(|e| internal_enswitch(&e))?;
    Ok(json_response(StatusCode::OK, body))
}

/// Rows an `audit/list` answer reads before deciding whether it must be
/// counted first (at most this many records are held per request).
const PREFETCH_ROWS: usize = 1000;

fn internal_enswitch(e: &Error) -> EnswitchError {
    tracing::error!(target: "auditlog::http", error = %e, "audit/list failed");
    EnswitchError::internal()
}

// ---------------------------------------------------------------------
// Voximplant platform_api.

async fn platform_api(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    let timeout = st.inner.request_timeout;
    let resp = match tokio::time::timeout(timeout, vox_inner(&st, req, &mut user)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => vox_error(&e, None),
        Err(_) => vox_error(
            &VoxError {
                code: 500,
                msg: format!("Request timed out after {} s", timeout.as_secs()),
            },
            Some(StatusCode::SERVICE_UNAVAILABLE),
        ),
    };
    with_user(resp, user)
}

fn vox_error(e: &VoxError, status: Option<StatusCode>) -> Response {
    let status = status.unwrap_or_else(|| {
        StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    });
    let mut r = json_response(status, e.body());
    r.extensions_mut().insert(LoggedCode(e.code));
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

fn internal_vox(e: &Error) -> VoxError {
    tracing::error!(target: "auditlog::http", error = %e, "platform_api failed");
    VoxError::internal()
}

async fn vox_inner(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Response, VoxError> {
    let (parts, body) = req.into_parts();
    let params = match request_params(st, &parts, body, Separators::Ampersand).await {
        Ok(p) => p,
        Err(ParamsError::TooLarge(n)) => {
            return Ok(vox_error(
                &VoxError::invalid(too_large_message(n)),
                Some(StatusCode::PAYLOAD_TOO_LARGE),
            ))
        }
        // Parameter limits answer HTTP 400 (SPEC section 5.3), with the
        // error object of code 101.
        Err(ParamsError::Param(e)) if e.over_limit => {
            return Ok(vox_error(&e.into(), Some(StatusCode::BAD_REQUEST)))
        }
        Err(ParamsError::Param(e)) => return Err(e.into()),
    };
    // The method first, as a dispatcher does: a missing (102) or unknown
    // (103) command is that whatever the token; then the token (100).
    let cmd = voximplant::resolve_command(parts.uri.path(), &params)?;
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::new("no Authorization header"))
        .inspect_err(log_auth_failure)?;
    let token = auth::parse_bearer(header).inspect_err(log_auth_failure)?;
    let users = st.inner.users.current();
    let user =
        auth::verify_bearer(&users, token, Timestamp::now()).inspect_err(log_auth_failure)?;
    *who = Some(user.username.clone());
    let log = st.log().clone();
    match voximplant::parse_request(cmd, &params, &user)? {
        VoxRequest::GetAuditLog(r) => {
            let mut query = r.query;
            query.until_id = Some(log.last_id());
            let with_total = r.with_total_count;
            let (rows, total) = blocking(move || {
                let rows = log.query(&query)?.collect::<Result<Vec<_>>>()?;
                // A page that is not full ends the result: the total
                // follows without counting (unless it is empty past an
                // offset, where the total is unknown).
                let short = (rows.len() as u64) < query.limit.unwrap_or(u64::MAX)
                    && (!rows.is_empty() || query.offset == 0);
                let total = match (with_total, short) {
                    (false, _) => None,
                    (true, true) => Some(query.offset + rows.len() as u64),
                    (true, false) => Some(log.count(&query)?),
                };
                Ok((rows, total))
            })
            .await
            .map_err(|e| internal_vox(&e))?;
            Ok(json_response(
                StatusCode::OK,
                voximplant::audit_log_page(&rows, total),
            ))
        }
        VoxRequest::GetAuditLogAsync(r) => {
            let customer = user.customer;
            let id = blocking(move || {
                log.create_report(
                    NewReport::new(customer, r.query)
                        .filters(r.filters)
                        .layout(Layout::Voximplant)
                        .header(r.with_header)
                        .format(r.format),
                )
            })
            .await
            .map_err(|e| match e {
                Error::Invalid { what, reason } => VoxError::invalid(format!("{what}: {reason}")),
                e => internal_vox(&e),
            })?;
            Ok(json_response(StatusCode::OK, voximplant::async_created(id)))
        }
        VoxRequest::GetHistoryReports(r) => {
            if !r.audit_type {
                let none: [serde_json::Value; 0] = [];
                return Ok(json_response(
                    StatusCode::OK,
                    voximplant::list_page(&none, Some(0)),
                ));
            }
            let filter = ReportFilter {
                history_report_id: r.history_report_id,
                created_from: r.created_from,
                created_to: r.created_to,
                is_completed: r.is_completed,
                desc_order: r.desc_order,
                count: Some(r.count),
                offset: r.offset,
            };
            let page =
                blocking(move || Ok(log.reports().list(&Customers::One(r.customer), &filter)))
                    .await
                    .map_err(|e| internal_vox(&e))?;
            let items: Vec<serde_json::Value> =
                page.reports.iter().map(Report::to_history_report).collect();
            Ok(json_response(
                StatusCode::OK,
                voximplant::list_page(&items, Some(page.total_count)),
            ))
        }
        VoxRequest::DownloadHistoryReport(r) => {
            let encoding = if accepts_gzip(&parts.headers) {
                DownloadEncoding::Gzip
            } else {
                DownloadEncoding::Plain
            };
            let id = r.history_report_id;
            let dl = blocking(move || {
                log.reports()
                    .download(id, &Customers::One(r.customer), encoding)
            })
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => VoxError::not_found(format!("history report {id}")),
                Error::Invalid { reason, .. } => VoxError::invalid(reason),
                e => internal_vox(&e),
            })?;
            let len = dl.len;
            // What the body really is (a Parquet report is never gzipped).
            let encoding = dl.encoding;
            let content_type = match dl.report.file_format() {
                Ok(f) if f.is_binary() => f.content_type(),
                _ => "application/octet-stream",
            };
            let file_name = dl.report.file_name.clone();
            let body = stream::reader_body(dl)
                .await
                .map_err(|e| internal_vox(&e))?;
            let mut resp = Response::new(body);
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(CONTENT_LENGTH, HeaderValue::from(len));
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            if encoding == DownloadEncoding::Gzip {
                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
                h.insert(CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        }
    }
}

/// Whether `Accept-Encoding` admits gzip (`gzip`, `x-gzip` or `*`, with a
/// non-zero `q`; an explicit `gzip` entry wins over `*`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for v in headers.get_all(ACCEPT_ENCODING) {
        let Ok(s) = v.to_str() else { continue };
        for item in s.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                })
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .next()
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q > 0.0),
                "*" => star = Some(q > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

// ---------------------------------------------------------------------
// Ingestion.

async fn ingest_records(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    let resp = match ingest_inner(&st, req, &mut user).await {
        Ok(r) => r,
        Err(e) => ingest_error(&e),
    };
    with_user(resp, user)
}

fn ingest_error(e: &IngestError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(status, e.body());
    match e.status {
        401 => {
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"auditlog\", charset=\"UTF-8\""),
            );
        }
        413 => {
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    r
}

async fn ingest_inner(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Response, IngestError> {
    let timeout = st.inner.request_timeout;
    let records = tokio::time::timeout(timeout, ingest_prepare(st, req, who))
        .await
        .unwrap_or_else(|_| {
            Err(IngestError::new(
                503,
                format!("the request took longer than {} s", timeout.as_secs()),
            ))
        })?;
    if records.is_empty() {
        #[allow(clippy::reversed_empty_ranges)]
        let none = 1..=0;
        return Ok(json_response(StatusCode::OK, ingest::stored_body(none)));
    }
    // No timeout from here: once the batch reaches the log the client gets
    // the outcome, whatever it takes.
    let log = st.log().clone();
    let n = records.len();
    let ids = blocking(move || log.append_batch(records))
        .await
        .map_err(|e| match e {
            Error::InvalidRecord { .. } | Error::Invalid { .. } => {
                IngestError::new(400, format!("nothing was stored: {e}"))
            }
            Error::Closed => IngestError::new(503, "the server is shutting down; nothing was stored"),
            e => {
                tracing::error!(target: "auditlog::http", error = %e, records = n, "append failed");
                IngestError::new(
                    500,
                    "the records could not be stored (the server log has the details); nothing was acknowledged",
                )
            }
        })?;
    Ok(json_response(StatusCode::OK, ingest::stored_body(ids)))
}

/// `POST /api/v1/customers`: sets parents in the customer tree (SPEC
/// section 2: hosts set it through the server too). HTTP Basic, role
/// `writer`; the body is CSV lines `customer,parent` (an optional header
/// line `id,parent`; an empty parent clears it). Every customer and parent
/// must be in the caller's subtree and the caller's own customer cannot be
/// moved; the whole body applies as one durable change or not at all.
async fn set_customers(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    let resp = match customers_inner(&st, req, &mut user).await {
        Ok(r) => r,
        Err(e) => ingest_error(&e),
    };
    with_user(resp, user)
}

async fn customers_inner(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Response, IngestError> {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, &parts.headers, st.inner.max_form_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(n)) => return Err(IngestError::new(413, too_large_message(n))),
        Err(BodyError::Read(m)) => return Err(IngestError::new(400, m)),
    };
    let user = basic_user(st, &parts.headers, who).await?;
    ingest::authorize(&user)?;
    let tree = st.log().customer_tree();
    let changes = ingest::parse_parents(&bytes, &user, &tree)?;
    let n = changes.len();
    let log = st.log().clone();
    blocking(move || log.set_parents(&changes))
        .await
        .map_err(|e| match e {
            Error::Invalid { .. } => IngestError::new(400, format!("nothing was changed: {e}")),
            e => {
                tracing::error!(target: "auditlog::http", error = %e, "customer tree update failed");
                IngestError::new(500, "the customer tree could not be written; nothing was changed")
            }
        })?;
    Ok(json_response(StatusCode::OK, format!("{{\"count\":{n}}}")))
}

/// `GET /api/v1/checkpoint`: a fresh signed checkpoint of the log (see
/// `docs/format.md`, "Tamper evidence"), for a client to store away from
/// this machine. HTTP Basic, role `owner` (401 without valid credentials,
/// 403 without the role).
async fn checkpoint(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    let resp = match checkpoint_inner(&st, req, &mut user).await {
        Ok(r) => r,
        Err(e) => ingest_error(&e),
    };
    with_user(resp, user)
}

async fn checkpoint_inner(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Response, IngestError> {
    let (parts, _body) = req.into_parts();
    let user = basic_user(st, &parts.headers, who).await?;
    if !user.has(crate::server::users::Role::Owner) {
        return Err(IngestError::new(
            403,
            "your role does not allow this: checkpoints need the owner role",
        ));
    }
    let log = st.log().clone();
    let cp = blocking(move || log.checkpoint())
        .await
        .map_err(|e| match e {
            Error::Closed => IngestError::new(503, "the server is shutting down"),
            e => {
                tracing::error!(target: "auditlog::http", error = %e, "checkpoint failed");
                IngestError::new(
                    500,
                    "the checkpoint could not be made (the server log has the details)",
                )
            }
        })?;
    let body = serde_json::to_string(&cp)
        .map_err(|e| IngestError::new(500, format!("cannot encode the checkpoint: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

/// Authenticates an HTTP Basic request against the users file.
async fn basic_user(
    st: &AppState,
    headers: &HeaderMap,
    who: &mut Option<String>,
) -> std::result::Result<AuthUser, IngestError> {
    let unauthorized = |e: AuthError| {
        log_auth_failure(&e);
        IngestError::new(
            401,
            "authentication failed (HTTP Basic with a user of the users file)",
        )
    };
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::new("no Authorization header"))
        .map_err(unauthorized)?;
    let creds = auth::parse_basic(header).map_err(unauthorized)?;
    *who = Some(creds.username.clone());
    st.verify_password(creds.username, creds.password)
        .await
        .map_err(unauthorized)
}

async fn ingest_prepare(
    st: &AppState,
    req: Request,
    who: &mut Option<String>,
) -> std::result::Result<Vec<crate::NewRecord>, IngestError> {
    let (parts, body) = req.into_parts();
    // The body is read before authenticating: a connection closed with
    // unread data is reset, and the client would not see the answer.
    let bytes = match read_body(body, &parts.headers, st.inner.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(n)) => return Err(IngestError::new(413, too_large_message(n))),
        Err(BodyError::Read(m)) => return Err(IngestError::new(400, m)),
    };
    let user = basic_user(st, &parts.headers, who).await?;
    ingest::authorize(&user)?;
    let tree = st.log().customer_tree();
    tokio::task::spawn_blocking(move || ingest::parse_ndjson(&bytes, &user, &*tree))
        .await
        .unwrap_or_else(|e| Err(IngestError::new(500, format!("parsing task failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&h("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&h("*")));
        assert!(accepts_gzip(&h("x-gzip")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("gzip;q=0, *")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&h("*;q=0")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn config_defaults() {
        let c = ServeConfig::new("users.toml");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.row_cap, 1_000_000);
        assert!(c.handle_signals);
        let c = c.row_cap(5).worker_threads(0).handle_signals(false);
        assert_eq!((c.row_cap, c.worker_threads), (5, Some(1)));
    }
}
