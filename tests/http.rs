//! Guards against the HTTP server answering differently from SPEC section
//! 5.3 and the two seeds, over real HTTP on loopback: every Enswitch
//! `audit/list` parameter and every Voximplant method checked row for row
//! against the naive reference of `tests/common`; every error code; tenant
//! isolation (a caller never sees another customer's rows or reports,
//! whatever it asks); JWTs that must be refused; all-or-nothing ingestion;
//! body limits; garbage input; graceful shutdown; and, with the real
//! binary, SIGHUP reloading the users file and SIGTERM stopping cleanly.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use auditlog::export::{export, ExportOptions, Layout};
use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::report::Customers;
use auditlog::server::http::ServeConfig;
use auditlog::{AuditLog, CustomerTree, Record, Timestamp};
use common::http_support::*;
use common::reference;
use serde_json::{json, Value};

struct Fx {
    // Drop order: the server first, the directory last.
    srv: Server,
    log: AuditLog,
    all: Vec<(Record, bool)>,
    tree: Arc<CustomerTree>,
    users: PathBuf,
    _dir: tempfile::TempDir,
}

fn fixture(n: u64, seed: u64) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (log, all) = build_log(&dir.path().join("data"), n, seed);
    let users = write_users(dir.path());
    let cfg = ServeConfig::new(&users)
        .max_form_bytes(16 << 10)
        .max_body_bytes(256 << 10);
    let srv = Server::start(log.clone(), cfg);
    let tree = log.customer_tree();
    Fx {
        srv,
        log,
        all,
        tree,
        users,
        _dir: dir,
    }
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_unix_seconds(s).unwrap()
}

// ---------------------------------------------------------------------
// Enswitch helpers.

/// GET with `;` separators, as in the seed's example.
fn ens(url: &str, user: &str, qs: &str) -> (u16, Value) {
    let full = format!(
        "{url}/api/json/audit/list/?auth_username={};auth_password={};{qs}",
        pct(user),
        pct(&format!("{user}-pw"))
    );
    ens_send(client().get(full))
}

fn ens_send(req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "Enswitch answers are JSON"
    );
    let v: Value = r.json().unwrap();
    assert_eq!(
        v["responses"][0]["code"],
        Value::String(status.to_string()),
        "code is a string equal to the HTTP status: {v}"
    );
    assert!(v["data"].is_array(), "{v}");
    (status, v)
}

fn ens_rows(rows: &[Record]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({"id": r.id, "time": r.time.as_micros().div_euclid(1_000_000), "customer": r.customer,
                "person": r.person, "source": r.source, "action": r.action, "object": r.object,
                "object_id": r.object_id, "name": r.name, "field": r.field, "old": r.old, "new": r.new})
        })
        .collect()
}

fn check_ens(fx: &Fx, user: &str, qs: &str, q: &Query) -> usize {
    let (status, v) = ens(&fx.srv.url, user, qs);
    assert_eq!(status, 200, "{qs}: {v}");
    assert_eq!(
        v["responses"],
        json!([{"code":"200","key":"","message":"OK"}])
    );
    let want = ens_rows(&reference(&fx.all, &fx.tree, q));
    let got = v["data"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{qs}: row count");
    assert!(got == &want, "{qs}: rows differ from the reference");
    want.len()
}

fn ens_err(fx: &Fx, user: &str, qs: &str) -> (u16, String) {
    let (status, v) = ens(&fx.srv.url, user, qs);
    assert_eq!(v["data"], json!([]), "{qs}");
    assert!(
        !v["responses"][0]["message"].as_str().unwrap().is_empty(),
        "{qs}: a message"
    );
    (
        status,
        v["responses"][0]["key"].as_str().unwrap().to_string(),
    )
}

const ALL_TIME: i64 = BASE_S - 3 * 86_400;

// ---------------------------------------------------------------------
// Enswitch.

#[test]
fn enswitch_every_parameter_matches_the_reference() {
    let fx = fixture(3000, 11);
    let base = Query::new().with_range(Some(ts(ALL_TIME)), None);
    // The seed's example: only start; customer and end default.
    let n = check_ens(
        &fx,
        "top",
        &format!("start={ALL_TIME}"),
        &base.clone().with_scope(Scope::Own(1)),
    );
    assert!(n > 50, "customer 1 has rows: {n}");
    // Every customer form.
    for (c, scope) in [
        ("all", Scope::Children(1)),
        ("ALL", Scope::Children(1)),
        ("recursive", Scope::Descendants(1)),
        ("system", Scope::System),
        ("7", Scope::Own(7)),
        ("1", Scope::Own(1)),
    ] {
        check_ens(
            &fx,
            "top",
            &format!("start={ALL_TIME};customer={c}"),
            &base.clone().with_scope(scope),
        );
    }
    // Time windows: end exclusive, end=-1 is now.
    let (s, e) = (BASE_S + 700, BASE_S + 1900);
    check_ens(
        &fx,
        "top",
        &format!("start={s};end={e};customer=system"),
        &Query::new()
            .with_range(Some(ts(s)), Some(ts(e)))
            .with_scope(Scope::System),
    );
    check_ens(
        &fx,
        "top",
        &format!("start={s};end=-1;customer=system"),
        &Query::new()
            .with_range(Some(ts(s)), None)
            .with_scope(Scope::System),
    );
    check_ens(
        &fx,
        "top",
        &format!("start={s};end={s};customer=system"),
        &Query::new()
            .with_range(Some(ts(s)), Some(ts(s)))
            .with_scope(Scope::System),
    );
    // column/match/value on every column and mode, case-insensitively.
    let sys = base.clone().with_scope(Scope::System);
    let sample = &fx
        .all
        .iter()
        .find(|(r, a)| !a && !r.name.is_empty() && r.name.len() > 3)
        .unwrap()
        .0;
    let columns: [(&str, Field, String); 9] = [
        ("person", Field::Person, "alice".into()),
        ("source", Field::Source, "203.0.113.5".into()),
        ("action", Field::Action, "CREATEUSER".into()),
        ("object", Field::Object, "USER".into()),
        ("id", Field::Id, sample.id.to_string()),
        ("name", Field::Name, "ALICE SMITH".into()),
        ("field", Field::Field, "Email".into()),
        ("old", Field::Old, "O1".into()),
        ("new", Field::New, "n4".into()),
    ];
    let mut matched = 0;
    for (col, field, value) in &columns {
        for (m, mode, v) in [
            ("exact", MatchMode::Exact, value.clone()),
            ("start", MatchMode::Start, value.chars().take(2).collect()),
            (
                "end",
                MatchMode::End,
                value
                    .chars()
                    .skip(value.chars().count().saturating_sub(2))
                    .collect(),
            ),
            (
                "contains",
                MatchMode::Contains,
                value.chars().skip(1).take(2).collect(),
            ),
        ] {
            let q = sys
                .clone()
                .with_predicate(Predicate::new(*field, mode, v.clone()).ignore_case());
            matched += check_ens(
                &fx,
                "top",
                &format!(
                    "start={ALL_TIME};customer=system;column={col};match={m};value={}",
                    pct(&v)
                ),
                &q,
            );
        }
    }
    assert!(matched > 500, "the column cases match rows: {matched}");
    // No match given: exact. A column without value: the empty string.
    check_ens(
        &fx,
        "top",
        &format!("start={ALL_TIME};customer=system;column=person;value=ALICE"),
        &sys.clone()
            .with_predicate(Predicate::new(Field::Person, MatchMode::Exact, "ALICE").ignore_case()),
    );
    let n = check_ens(
        &fx,
        "top",
        &format!("start={ALL_TIME};customer=system;column=object"),
        &sys.clone()
            .with_predicate(Predicate::new(Field::Object, MatchMode::Exact, "").ignore_case()),
    );
    assert!(n > 0, "empty objects exist");
    // Every sort field, both directions.
    for (name, field) in [
        ("action", Field::Action),
        ("customer", Field::Customer),
        ("field", Field::Field),
        ("id", Field::Id),
        ("name", Field::Name),
        ("new", Field::New),
        ("person", Field::Person),
        ("object", Field::Object),
        ("old", Field::Old),
        ("time", Field::Time),
    ] {
        for desc in [0, 1] {
            check_ens(
                &fx,
                "top",
                &format!("start={ALL_TIME};customer=recursive;sort={name};descending={desc}"),
                &base
                    .clone()
                    .with_scope(Scope::Descendants(1))
                    .with_sort(field, desc == 1),
            );
        }
    }
    // archive=1 (with the archive role) includes archived rows; 0 does not.
    let with_archive = check_ens(
        &fx,
        "arch",
        &format!("start={ALL_TIME};customer=system;archive=1"),
        &sys.clone().with_archived(true),
    );
    let without = check_ens(
        &fx,
        "arch",
        &format!("start={ALL_TIME};customer=system;archive=0"),
        &sys,
    );
    assert!(with_archive > without, "{with_archive} > {without}");
    // Answers longer than the rows read ahead (1000) are counted first:
    // exactly at the cap they stream, one row over they are refused.
    assert!(without > 1000);
    let cap = without as u64;
    for (cap, want) in [(cap, 200), (cap - 1, 400)] {
        let srv = Server::start(fx.log.clone(), ServeConfig::new(&fx.users).row_cap(cap));
        let (st, v) = ens(
            &srv.url,
            "arch",
            &format!("start={ALL_TIME};customer=system"),
        );
        assert_eq!(st, want, "cap {cap}: {}", v["responses"]);
        if st == 400 {
            assert_eq!(v["responses"][0]["key"], "end");
        } else {
            assert_eq!(v["data"].as_array().unwrap().len(), without);
        }
    }
    // `&` separators, and a POST form body.
    let q = sys
        .clone()
        .with_predicate(Predicate::new(Field::Name, MatchMode::Contains, "smith").ignore_case())
        .with_sort(Field::Name, true);
    let want = ens_rows(&reference(&fx.all, &fx.tree, &q));
    let qs = format!(
        "start={ALL_TIME}&customer=system&column=name&match=contains&value=smith&sort=name&descending=1"
    );
    let (st, v) = ens_send(client().get(format!(
        "{}/api/json/audit/list?auth_username=top&auth_password=top-pw&{qs}",
        fx.srv.url
    )));
    assert_eq!(st, 200);
    assert!(v["data"].as_array().unwrap() == &want);
    let (st, v) = ens_send(
        client()
            .post(format!("{}/api/json/audit/list", fx.srv.url))
            .form(&[
                ("auth_username", "top"),
                ("auth_password", "top-pw"),
                ("start", &ALL_TIME.to_string()),
                ("customer", "system"),
                ("column", "name"),
                ("match", "contains"),
                ("value", "smith"),
                ("sort", "name"),
                ("descending", "1"),
            ]),
    );
    assert_eq!(st, 200);
    assert!(v["data"].as_array().unwrap() == &want);
    // Query string and form body together (credentials in the query).
    let (st, v) = ens_send(
        client()
            .post(format!(
                "{}/api/json/audit/list/?auth_username=top;auth_password=top-pw",
                fx.srv.url
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(qs.replace('&', ";")),
    );
    assert_eq!(st, 200);
    assert!(v["data"].as_array().unwrap() == &want);
}

#[test]
fn enswitch_error_codes() {
    let fx = fixture(400, 12);
    let s = format!("start={ALL_TIME}");
    // 400 with the key naming the parameter.
    for (qs, key) in [
        ("".to_string(), "start"),
        ("start=abc".into(), "start"),
        (format!("{s};end=x"), "end"),
        (format!("{s};end=-5"), "end"),
        (format!("start={};end={}", BASE_S, BASE_S - 1), "start"),
        (format!("{s};archive=2"), "archive"),
        (format!("{s};descending=yes"), "descending"),
        (format!("{s};column=args"), "column"),
        (format!("{s};match=regex;column=name"), "match"),
        (format!("{s};sort=refs"), "sort"),
        (format!("{s};customer=mine"), "customer"),
        (format!("{s};limit=5"), "limit"),
        (format!("{s};start=7"), "start"),
    ] {
        assert_eq!(ens_err(&fx, "top", &qs), (400, key.to_string()), "{qs}");
    }
    // 401: wrong password, unknown user, key-only user, no credentials.
    let url = &fx.srv.url;
    for qs in [
        format!("auth_username=top;auth_password=nope;{s}"),
        format!("auth_username=nobody;auth_password=x;{s}"),
        format!("auth_username=vox3;auth_password=x;{s}"),
        s.clone(),
        format!("auth_username=top;{s}"),
    ] {
        let (st, v) = ens_send(client().get(format!("{url}/api/json/audit/list?{qs}")));
        assert_eq!(st, 401, "{qs}: {v}");
    }
    // 402 for each tenancy and role case.
    assert_eq!(ens_err(&fx, "noaudit", &s).0, 402, "no audit role");
    assert_eq!(
        ens_err(&fx, "top", &format!("{s};archive=1")),
        (402, "archive".into()),
        "archive=1 without the archive role"
    );
    for c in ["1", "3", "6", "9", "10", "12", "999"] {
        assert_eq!(
            ens_err(&fx, "c2", &format!("{s};customer={c}")),
            (402, "customer".into()),
            "customer {c} is outside customer 2's subtree"
        );
    }
    for c in ["9", "10", "12"] {
        assert_eq!(ens_err(&fx, "top", &format!("{s};customer={c}")).0, 402);
    }
    assert_eq!(
        ens_err(&fx, "c2", &format!("{s};customer=system")),
        (402, "customer".into()),
        "system needs a top-level customer"
    );
    // An unknown customer is top-level: system is allowed.
    let (st, _) = ens(url, "lone", &format!("{s};customer=system"));
    assert_eq!(st, 200);
    // Customer 2 reaches its own subtree.
    for c in ["2", "4", "8", "all", "recursive"] {
        assert_eq!(ens(url, "c2", &format!("{s};customer={c}")).0, 200, "{c}");
    }
    // Row cap: a server over the same log with a cap of 10 rows.
    let capped = Server::start(fx.log.clone(), ServeConfig::new(&fx.users).row_cap(10));
    let (st, v) = ens(&capped.url, "top", &format!("{s};customer=system"));
    assert_eq!(st, 400);
    assert_eq!(v["responses"][0]["key"], "end");
    assert!(v["responses"][0]["message"]
        .as_str()
        .unwrap()
        .contains("narrower"));
    let few = format!("{s};customer=system;column=id;value={}", fx.all[5].0.id);
    assert_eq!(ens(&capped.url, "top", &few).0, 200);
    // Exactly at the cap is allowed; one row over is not.
    for (cap, want) in [(400, 200), (399, 400)] {
        let srv = Server::start(fx.log.clone(), ServeConfig::new(&fx.users).row_cap(cap));
        let (st, v) = ens(&srv.url, "top", &format!("{s};customer=system"));
        assert_eq!(st, want, "cap {cap}");
        if st == 200 {
            assert_eq!(v["data"].as_array().unwrap().len(), 400);
        }
    }
    // A form body over the limit: 413 in the envelope.
    let (st, v) = ens_send(
        client()
            .post(format!("{url}/api/json/audit/list/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "auth_username=top&auth_password=top-pw&{s}&value={}",
                "x".repeat(20_000)
            )),
    );
    assert_eq!(st, 413, "{v}");
}

// ---------------------------------------------------------------------
// Voximplant helpers.

#[derive(Clone, Copy, Debug)]
enum How {
    GetPath,
    GetCmd,
    PostFormPath,
    PostFormCmd,
    PostMultipartCmd,
    PostJsonPath,
}

const HOWS: [How; 6] = [
    How::GetPath,
    How::GetCmd,
    How::PostFormPath,
    How::PostFormCmd,
    How::PostMultipartCmd,
    How::PostJsonPath,
];

fn vox_req(
    url: &str,
    token: &str,
    how: How,
    cmd: &str,
    params: &[(&str, &str)],
) -> reqwest::blocking::RequestBuilder {
    let c = client();
    let mut with_cmd: Vec<(&str, &str)> = vec![("cmd", cmd)];
    with_cmd.extend_from_slice(params);
    let req = match how {
        How::GetPath => c.get(format!("{url}/platform_api/{cmd}")).query(params),
        How::GetCmd => c.get(format!("{url}/platform_api")).query(&with_cmd),
        How::PostFormPath => c.post(format!("{url}/platform_api/{cmd}")).form(params),
        How::PostFormCmd => c.post(format!("{url}/platform_api/")).form(&with_cmd),
        How::PostMultipartCmd => {
            let mut form = reqwest::blocking::multipart::Form::new();
            for (k, v) in &with_cmd {
                form = form.text(k.to_string(), v.to_string());
            }
            c.post(format!("{url}/platform_api")).multipart(form)
        }
        How::PostJsonPath => {
            // Repeated names become a JSON array.
            let mut m = serde_json::Map::new();
            for (k, v) in params {
                match m.get_mut(*k) {
                    Some(Value::Array(a)) => a.push(json!(v)),
                    Some(other) => *other = json!([other.clone(), v]),
                    None => {
                        m.insert(k.to_string(), json!(v));
                    }
                }
            }
            c.post(format!("{url}/platform_api/{cmd}")).json(&m)
        }
    };
    req.bearer_auth(token)
}

fn vox(url: &str, token: &str, how: How, cmd: &str, params: &[(&str, &str)]) -> Value {
    let r = vox_req(url, token, how, cmd, params).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{cmd} {how:?}");
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().unwrap()
}

fn vox_code(url: &str, token: &str, cmd: &str, params: &[(&str, &str)]) -> u64 {
    let v = vox(url, token, How::PostFormPath, cmd, params);
    assert!(v["error"]["msg"].is_string(), "{v}");
    v["error"]["code"].as_u64().unwrap_or(0)
}

fn vox_rows(rows: &[Record]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut v = json!({"audit_log_id": r.id, "account_id": r.customer,
                "requested": r.time.to_sql(), "ip": r.source, "cmd_name": r.action,
                "cmd_args": r.args.as_ref().map_or(json!({}), |a| a.to_value())});
            if !r.person.is_empty() {
                v["subuser_name"] = json!(r.person);
            }
            if let Some(res) = &r.result {
                v["cmd_result"] = res.to_value();
            }
            v
        })
        .collect()
}

fn t3() -> String {
    token("k3", 0, json!("3"), 600)
}

fn from_to() -> (String, String) {
    (ts(ALL_TIME).to_sql(), ts(BASE_S + 30 * 86_400).to_sql())
}

// ---------------------------------------------------------------------
// Voximplant.

#[test]
fn voximplant_get_audit_log_matches_the_reference() {
    let fx = fixture(2500, 13);
    let url = &fx.srv.url;
    let tok = t3();
    let (from, to) = from_to();
    let base = Query::new()
        .with_range(Some(ts(ALL_TIME)), Some(ts(BASE_S + 30 * 86_400)))
        .with_scope(Scope::Own(3));
    let mine: Vec<&Record> = fx
        .all
        .iter()
        .filter(|(r, a)| r.customer == 3 && !a)
        .map(|(r, _)| r)
        .collect();
    assert!(mine.len() > 100, "customer 3 has rows: {}", mine.len());
    let ids: Vec<String> = mine
        .iter()
        .step_by(7)
        .take(6)
        .map(|r| r.id.to_string())
        .collect();
    let other_id = fx
        .all
        .iter()
        .find(|(r, _)| r.customer != 3)
        .unwrap()
        .0
        .id
        .to_string();
    let ref74 = mine
        .iter()
        .flat_map(|r| r.refs.iter())
        .next()
        .cloned()
        .unwrap();
    let oid = mine[3].object_id.clone();
    let ids_q: Vec<u64> = ids
        .iter()
        .map(|s| s.parse().unwrap())
        .chain([other_id.parse().unwrap()])
        .collect();
    let id_list = format!("{};{other_id}", ids.join(";"));

    type Case = (Vec<(String, String)>, Query);
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let cases: Vec<Case> = vec![
        (vec![], base.clone()),
        (
            vec![p("audit_log_id", &id_list)],
            base.clone().with_ids(ids_q.clone()),
        ),
        (
            ids.iter()
                .map(|i| p("audit_log_id", i))
                .chain([p("audit_log_id", &other_id)])
                .collect(),
            base.clone().with_ids(ids_q.clone()),
        ),
        (
            vec![p("filtered_admin_user_id", "alice")],
            base.clone()
                .with_predicate(Predicate::new(Field::Person, MatchMode::Exact, "alice")),
        ),
        (
            vec![p("filtered_admin_user_id", "alice;bob")],
            base.clone().with_predicate(Predicate::any_of(
                Field::Person,
                MatchMode::Exact,
                ["alice", "bob"],
            )),
        ),
        (
            vec![p("filtered_ip", "203.0.113.5;web")],
            base.clone().with_predicate(Predicate::any_of(
                Field::Source,
                MatchMode::Exact,
                ["203.0.113.5", "web"],
            )),
        ),
        (
            vec![p("filtered_ip", "203.0.113.5"), p("filtered_ip", "web")],
            base.clone().with_predicate(Predicate::any_of(
                Field::Source,
                MatchMode::Exact,
                ["203.0.113.5", "web"],
            )),
        ),
        (
            vec![p("filtered_cmd", "CreateUser"), p("filtered_cmd", "login")],
            base.clone().with_predicate(Predicate::any_of(
                Field::Action,
                MatchMode::Exact,
                ["CreateUser", "login"],
            )),
        ),
        (
            vec![p("advanced_filters", &ref74)],
            base.clone()
                .with_predicate(Predicate::new(Field::Relation, MatchMode::Exact, &ref74)),
        ),
        (
            vec![p("advanced_filters", &oid)],
            base.clone()
                .with_predicate(Predicate::new(Field::Relation, MatchMode::Exact, &oid)),
        ),
        (
            vec![p("desc_order", "TRUE"), p("filtered_cmd", "change;add")],
            base.clone()
                .with_sort(Field::Time, true)
                .with_predicate(Predicate::any_of(
                    Field::Action,
                    MatchMode::Exact,
                    ["change", "add"],
                )),
        ),
        (
            vec![p("desc_order", "1")],
            base.clone().with_sort(Field::Time, true),
        ),
        (vec![p("desc_order", "False")], base.clone()),
    ];
    for (i, (extra, q)) in cases.iter().enumerate() {
        let how = HOWS[i % HOWS.len()];
        let mut params: Vec<(&str, &str)> =
            vec![("from_date", &from), ("to_date", &to), ("count", "1000")];
        params.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let v = vox(url, &tok, how, "GetAuditLog", &params);
        let want = reference(&fx.all, &fx.tree, q);
        let got = v["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{extra:?}: {v}"));
        assert!(
            got == &vox_rows(&want),
            "case {i} {extra:?} via {how:?}: {} rows, want {}",
            got.len(),
            want.len()
        );
        assert_eq!(v["count"], want.len(), "{extra:?}");
        assert_eq!(v["total_count"], want.len(), "{extra:?}");
    }
    // count, offset, with_total_count; the default count is 100.
    let all3 = reference(&fx.all, &fx.tree, &base);
    assert!(all3.len() > 100);
    for how in HOWS {
        let v = vox(
            url,
            &tok,
            how,
            "GetAuditLog",
            &[("from_date", &from), ("to_date", &to)],
        );
        assert_eq!(v["count"], 100);
        assert_eq!(v["total_count"], all3.len());
        assert!(v["result"].as_array().unwrap() == &vox_rows(&all3[..100]));
    }
    let v = vox(
        url,
        &tok,
        How::PostFormCmd,
        "GetAuditLog",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("count", "7"),
            ("offset", "5"),
        ],
    );
    assert!(v["result"].as_array().unwrap() == &vox_rows(&all3[5..12]));
    assert_eq!(v["total_count"], all3.len());
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[("from_date", &from), ("to_date", &to), ("count", "0")],
    );
    assert_eq!(
        v,
        json!({"result": [], "count": 0, "total_count": all3.len()})
    );
    // Past the end: an empty page still knows the total; a short last
    // page too.
    let past = (all3.len() + 5).to_string();
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[("from_date", &from), ("to_date", &to), ("offset", &past)],
    );
    assert_eq!(
        v,
        json!({"result": [], "count": 0, "total_count": all3.len()})
    );
    let near = (all3.len() - 3).to_string();
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[("from_date", &from), ("to_date", &to), ("offset", &near)],
    );
    assert_eq!(
        (v["count"].clone(), v["total_count"].clone()),
        (json!(3), json!(all3.len()))
    );
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("count", "3"),
            ("with_total_count", "false"),
        ],
    );
    assert_eq!(v["count"], 3);
    assert!(v.get("total_count").is_none(), "{v}");
    // to_date is exclusive: a one-second window around one record.
    let r = all3[10].clone();
    let sec = r.time.as_micros().div_euclid(1_000_000);
    let q = Query::new()
        .with_range(Some(ts(sec)), Some(ts(sec + 1)))
        .with_scope(Scope::Own(3));
    let want = reference(&fx.all, &fx.tree, &q);
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[
            ("from_date", &ts(sec).to_sql()),
            ("to_date", &ts(sec + 1).to_sql()),
        ],
    );
    assert!(v["result"].as_array().unwrap() == &vox_rows(&want));
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetAuditLog",
        &[
            ("from_date", &ts(sec).to_sql()),
            ("to_date", &ts(sec).to_sql()),
        ],
    );
    assert_eq!(v["count"], 0);
}

#[test]
fn voximplant_error_codes_and_jwt_refusals() {
    let fx = fixture(300, 14);
    let url = &fx.srv.url;
    let (from, to) = from_to();
    let range = [("from_date", from.as_str()), ("to_date", to.as_str())];
    // A good token works.
    let v = vox(url, &t3(), How::GetPath, "GetAuditLog", &range);
    assert!(v["result"].is_array(), "{v}");
    // 100 for every bad token.
    let none_alg = {
        let b64 = |s: &str| {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let bytes = s.as_bytes();
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let mut acc = 0u32;
                for (i, b) in chunk.iter().enumerate() {
                    acc |= u32::from(*b) << (16 - 8 * i);
                }
                for i in 0..=chunk.len() {
                    out.push(A[((acc >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        };
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT","kid":"k3"}"#),
            b64(r#"{"iss":"3","exp":99999999999}"#)
        )
    };
    let hs256 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("k3".into());
        jsonwebtoken::encode(
            &h,
            &json!({"iss": "3", "exp": 99999999999u64}),
            &jsonwebtoken::EncodingKey::from_secret(keys()[0].1.as_bytes()),
        )
        .unwrap()
    };
    for (what, tok) in [
        ("wrong key", token("k3", 1, json!("3"), 600)),
        ("wrong kid", token("k-unknown", 0, json!("3"), 600)),
        ("another user's kid", token("k9", 0, json!("3"), 600)),
        ("expired", token("k3", 0, json!("3"), -60)),
        ("iss of another customer", token("k3", 0, json!("9"), 600)),
        ("alg none", none_alg),
        ("HS256", hs256),
        ("garbage", "not.a.token".into()),
    ] {
        let v = vox(url, &tok, How::PostFormPath, "GetAuditLog", &range);
        assert_eq!(v["error"]["code"], 100, "{what}: {v}");
        assert!(v.get("result").is_none());
    }
    for auth in [None, Some("Basic dG9wOnRvcC1wdw=="), Some("Bearer")] {
        let mut req = client()
            .post(format!("{url}/platform_api/GetAuditLog"))
            .form(&range);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let v: Value = req.send().unwrap().json().unwrap();
        assert_eq!(v["error"]["code"], 100, "{auth:?}");
    }
    let tok = t3();
    // 102 missing cmd, 103 unknown command.
    let v: Value = client()
        .post(format!("{url}/platform_api"))
        .bearer_auth(&tok)
        .form(&range)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["error"]["code"], 102, "{v}");
    assert_eq!(vox_code(url, &tok, "GetCallHistory", &range), 103);
    assert_eq!(vox_code(url, &tok, "getauditlog", &range), 103);
    // 104 without the owner role.
    let aud = token("k3-audit", 0, json!("3"), 600);
    for cmd in [
        "GetAuditLog",
        "GetAuditLogAsync",
        "GetHistoryReports",
        "DownloadHistoryReport",
    ] {
        assert_eq!(
            vox_code(url, &aud, cmd, &[("history_report_id", "1")]),
            104,
            "{cmd}"
        );
    }
    // 101 invalid arguments, 111 dates, 105 output.
    assert_eq!(vox_code(url, &tok, "GetAuditLog", &[("to_date", &to)]), 101);
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[range[0], range[1], ("bogus", "1")]
        ),
        101
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[range[0], range[1], ("count", "1001")]
        ),
        101
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[range[0], range[1], ("desc_order", "maybe")]
        ),
        101
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[("from_date", "2026-01-01"), range[1]]
        ),
        111
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[("from_date", "2026-02-30 00:00:00"), range[1]]
        ),
        111
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetHistoryReports",
            &[("created_from", "yesterday")]
        ),
        111
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLog",
            &[range[0], range[1], ("output", "xml")]
        ),
        105
    );
    assert_eq!(
        vox_code(
            url,
            &tok,
            "GetAuditLogAsync",
            &[range[0], range[1], ("output", "json")]
        ),
        105
    );
    assert_eq!(vox_code(url, &tok, "DownloadHistoryReport", &[]), 101);
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("p{i}"), "1".into())).collect();
    let v: Value = client()
        .post(format!("{url}/platform_api/GetAuditLog"))
        .bearer_auth(&tok)
        .form(&many)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["error"]["code"], 101, "too many parameters: {v}");
    // A body over the limit: HTTP 413 with the error object.
    let r = client()
        .post(format!("{url}/platform_api/GetAuditLog"))
        .bearer_auth(&tok)
        .form(&[("filtered_cmd", "x".repeat(20_000))])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], 101);
}

/// Enswitch forms an outside tester reads in SPEC sections 2 and 5.3:
/// `customer=own` (SPEC section 2's name for the caller's own customer),
/// `column`/`match`/`sort` names in any case, and the sort and column
/// fields of SPEC section 2 beyond the seed's lists.
#[test]
fn enswitch_spec_forms_of_parameters() {
    let fx = fixture(600, 19);
    let base = Query::new().with_range(Some(ts(ALL_TIME)), None);
    let s = format!("start={ALL_TIME}");
    // customer=own is the caller's own customer, like no customer at all.
    for own in ["own", "OWN"] {
        let n = check_ens(
            &fx,
            "c2",
            &format!("{s};customer={own}"),
            &base.clone().with_scope(Scope::Own(2)),
        );
        assert!(n > 0, "customer 2 has rows");
    }
    // Names of columns, match modes and sort fields in any case.
    let sys = base.clone().with_scope(Scope::System);
    check_ens(
        &fx,
        "top",
        &format!(
            "{s};customer=system;column=PERSON;match=Contains;value=LIC;sort=Name;descending=1"
        ),
        &sys.clone()
            .with_predicate(Predicate::new(Field::Person, MatchMode::Contains, "LIC").ignore_case())
            .with_sort(Field::Name, true),
    );
    // Every sortable field of SPEC section 2 sorts, not only the seed's.
    for (name, field) in [("source", Field::Source), ("object_id", Field::ObjectId)] {
        for desc in [0, 1] {
            check_ens(
                &fx,
                "top",
                &format!("{s};customer=system;sort={name};descending={desc}"),
                &sys.clone().with_sort(field, desc == 1),
            );
        }
    }
    // Row fields beyond the seed's column list are searchable too.
    let sample = &fx
        .all
        .iter()
        .find(|(r, a)| !a && !r.object_id.is_empty())
        .unwrap()
        .0;
    for (col, field, v) in [
        ("object_id", Field::ObjectId, sample.object_id.clone()),
        ("customer", Field::Customer, sample.customer.to_string()),
    ] {
        let n = check_ens(
            &fx,
            "top",
            &format!("{s};customer=system;column={col};value={}", pct(&v)),
            &sys.clone()
                .with_predicate(Predicate::new(field, MatchMode::Exact, v.clone()).ignore_case()),
        );
        assert!(n > 0, "{col}");
    }
}

/// Voximplant: a missing (102) or unknown (103) command whatever the token;
/// parameter count and length over the limits answered with HTTP 400 (SPEC
/// section 5.3, "413 / 400") and code 101; a POST body without a
/// Content-Type read as a form, in both APIs.
#[test]
fn voximplant_dispatch_limits_and_untyped_form_bodies() {
    let fx = fixture(200, 23);
    let url = &fx.srv.url;
    let base = Query::new().with_range(Some(ts(ALL_TIME)), None);
    let s = format!("start={ALL_TIME}");
    // A form POST without a Content-Type header is still a form.
    let (st, v) = ens_send(
        client()
            .post(format!("{url}/api/json/audit/list/"))
            .body(format!("auth_username=top;auth_password=top-pw;{s}")),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        reference(&fx.all, &fx.tree, &base.clone().with_scope(Scope::Own(1))).len()
    );

    // Voximplant: the command is resolved before the token is checked.
    for auth in [None, Some(t3())] {
        let mut r = client().post(format!("{url}/platform_api"));
        if let Some(t) = &auth {
            r = r.bearer_auth(t);
        }
        let v: Value = r.send().unwrap().json().unwrap();
        assert_eq!(
            v["error"]["code"],
            102,
            "no cmd, token {}: {v}",
            auth.is_some()
        );
        let mut r = client().get(format!("{url}/platform_api/GetCallHistory"));
        if let Some(t) = &auth {
            r = r.bearer_auth(t);
        }
        let v: Value = r.send().unwrap().json().unwrap();
        assert_eq!(
            v["error"]["code"],
            103,
            "unknown cmd, token {}: {v}",
            auth.is_some()
        );
    }
    // A known command without a token is still 100.
    let v: Value = client()
        .get(format!("{url}/platform_api/GetAuditLog"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["error"]["code"], 100, "{v}");
    // Parameter count and length over the limits: HTTP 400 (SPEC 5.3
    // "413 / 400"), the body the Voximplant error object with code 101.
    let tok = t3();
    let (from, to) = from_to();
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("p{i}"), "1".into())).collect();
    let long = [
        ("from_date", from.clone()),
        ("to_date", to.clone()),
        ("filtered_cmd", "x".repeat(200)),
    ];
    let small = Server::start(
        fx.log.clone(),
        ServeConfig::new(&fx.users).limits(auditlog::server::params::Limits {
            max_value_bytes: 100,
            ..Default::default()
        }),
    );
    for (what, req) in [
        (
            "too many parameters",
            client()
                .post(format!("{url}/platform_api/GetAuditLog"))
                .form(&many),
        ),
        (
            "a value too long",
            client()
                .get(format!("{}/platform_api/GetAuditLog", small.url))
                .query(&long),
        ),
    ] {
        let r = req.bearer_auth(&tok).send().unwrap();
        assert_eq!(r.status().as_u16(), 400, "{what}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["error"]["code"], 101, "{what}: {v}");
    }
    // A form body without a Content-Type.
    let r = client()
        .post(format!("{url}/platform_api/GetAuditLog"))
        .bearer_auth(&tok)
        .body(format!(
            "from_date={}&to_date={}&count=0",
            pct(&from),
            pct(&to)
        ))
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert!(v["total_count"].as_u64().unwrap() > 0, "{v}");
}

fn wait_done(log: &AuditLog, id: u64, customer: u64) {
    let r = log
        .reports()
        .wait(id, &Customers::One(customer), Duration::from_secs(120))
        .unwrap();
    assert!(r.state.is_completed(), "report {id}: {:?}", r.state);
}

fn reference_csv(rows: &[Record], header: bool) -> Vec<u8> {
    let mut out = Vec::new();
    export(
        rows.iter().cloned().map(Ok),
        &mut out,
        &ExportOptions::csv()
            .layout(Layout::Voximplant)
            .header(header),
        &mut |_| {},
    )
    .unwrap();
    out
}

fn download(url: &str, tok: &str, id: u64, gzip: bool) -> reqwest::blocking::Response {
    let mut req = client()
        .post(format!("{url}/platform_api/DownloadHistoryReport"))
        .bearer_auth(tok)
        .form(&[("history_report_id", id.to_string())]);
    if gzip {
        req = req.header("accept-encoding", "gzip, deflate");
    }
    req.send().unwrap()
}

/// `GetAuditLogAsync` with `output=parquet` (an extension): the report is
/// Parquet, listed as such, and downloaded as stored with the Parquet
/// content type and no gzip, even to a client that accepts gzip.
#[cfg(feature = "parquet")]
#[test]
fn voximplant_parquet_report() {
    use auditlog::export::Format;
    let fx = fixture(1500, 16);
    let url = &fx.srv.url;
    let tok = t3();
    let (from, to) = from_to();
    let v = vox(
        url,
        &tok,
        How::PostFormPath,
        "GetAuditLogAsync",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("output", "parquet"),
        ],
    );
    assert_eq!(v["result"], 1, "{v}");
    let id = v["history_report_id"].as_u64().unwrap();
    wait_done(&fx.log, id, 3);
    let v = vox(
        url,
        &tok,
        How::GetCmd,
        "GetHistoryReports",
        &[("history_report_id", &id.to_string())],
    );
    let rep = &v["result"][0];
    assert_eq!(rep["format"], "parquet");
    assert_eq!(rep["file_name"], format!("audit_{id}.parquet"));
    assert_eq!(rep["filters"]["output"], "parquet");
    let q = Query::new()
        .with_range(Some(ts(ALL_TIME)), Some(ts(BASE_S + 30 * 86_400)))
        .with_scope(Scope::Own(3))
        .with_sort(Field::Time, false);
    let mut want = Vec::new();
    export(
        reference(&fx.all, &fx.tree, &q).into_iter().map(Ok),
        &mut want,
        &ExportOptions::new().format(Format::Parquet),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(rep["file_size"], want.len());
    for gzip in [false, true] {
        let r = download(url, &tok, id, gzip);
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.apache.parquet"
        );
        assert!(r.headers().get("content-encoding").is_none());
        let body = r.bytes().unwrap();
        assert!(
            body.as_ref() == want.as_slice(),
            "downloaded Parquet differs from a direct export of the same rows"
        );
    }
    assert_eq!(
        vox_code(url, &tok, "GetAuditLogAsync", &[("output", "xml")]),
        105
    );
}

#[test]
fn voximplant_report_flow_and_tenant_isolation() {
    let fx = fixture(2500, 15);
    let url = &fx.srv.url;
    let tok = t3();
    let (from, to) = from_to();
    // Create: the seed's parameters (lists repeated and `;`-joined).
    let v = vox(
        url,
        &tok,
        How::PostFormPath,
        "GetAuditLogAsync",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("filtered_cmd", "CreateUser;login"),
            ("filtered_cmd", "change"),
            ("desc_order", "true"),
            ("with_header", "true"),
            ("output", "csv"),
        ],
    );
    assert_eq!(v["result"], 1, "{v}");
    let id = v["history_report_id"].as_u64().unwrap();
    assert_eq!(
        v.as_object().unwrap().len(),
        2,
        "exactly result and history_report_id: {v}"
    );
    let q = Query::new()
        .with_range(Some(ts(ALL_TIME)), Some(ts(BASE_S + 30 * 86_400)))
        .with_scope(Scope::Own(3))
        .with_sort(Field::Time, true)
        .with_predicate(Predicate::any_of(
            Field::Action,
            MatchMode::Exact,
            ["CreateUser", "login", "change"],
        ));
    let want_rows = reference(&fx.all, &fx.tree, &q);
    assert!(want_rows.len() > 20);
    wait_done(&fx.log, id, 3);
    // Listed, completed, with its filters.
    let v = vox(
        url,
        &tok,
        How::GetCmd,
        "GetHistoryReports",
        &[("history_report_id", &id.to_string())],
    );
    assert_eq!(
        (v["count"].clone(), v["total_count"].clone()),
        (json!(1), json!(1))
    );
    let rep = &v["result"][0];
    assert_eq!(rep["history_report_id"], id);
    assert_eq!(rep["history_type"], "audit");
    assert_eq!(rep["format"], "csv");
    assert_eq!(rep["file_name"], format!("audit_{id}.csv"));
    assert!(rep["completed"].is_string(), "{rep}");
    assert!(Timestamp::parse_sql(rep["created"].as_str().unwrap()).is_ok());
    assert_eq!(rep["store_until"].as_str().unwrap().len(), 10);
    assert_eq!(rep["filters"]["filtered_cmd"], "CreateUser;login;change");
    assert_eq!(rep["filters"]["desc_order"], true);
    let want = reference_csv(&want_rows, true);
    assert_eq!(rep["file_size"], want.len());
    // Download, plain and gzip.
    let r = download(url, &tok, id, false);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(r.headers().get("content-encoding").is_none());
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.contains(&format!("audit_{id}.csv")), "{cd}");
    let plain = r.bytes().unwrap();
    assert!(
        plain.as_ref() == want.as_slice(),
        "plain download differs from the reference CSV"
    );
    let r = download(url, &tok, id, true);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let gz = r.bytes().unwrap();
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(gz.as_ref())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert!(
        unzipped == want,
        "gzip download differs from the reference CSV"
    );
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetHistoryReports",
        &[("history_report_id", &id.to_string())],
    );
    assert_eq!(v["result"][0]["download_count"], 2);
    assert!(v["result"][0]["last_downloaded"].is_string());

    // A second report: GetAuditLog with is_async, no header, JSON body.
    let v = vox(
        url,
        &tok,
        How::PostJsonPath,
        "GetAuditLog",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("is_async", "true"),
            ("with_header", "false"),
        ],
    );
    let id2 = v["history_report_id"].as_u64().unwrap();
    wait_done(&fx.log, id2, 3);
    let all3 = reference(
        &fx.all,
        &fx.tree,
        &Query::new()
            .with_range(Some(ts(ALL_TIME)), Some(ts(BASE_S + 30 * 86_400)))
            .with_scope(Scope::Own(3)),
    );
    let body = download(url, &tok, id2, false).bytes().unwrap();
    assert!(body.as_ref() == reference_csv(&all3, false).as_slice());
    // Listing filters.
    let list = |params: &[(&str, &str)]| -> Vec<u64> {
        let v = vox(url, &tok, How::PostFormCmd, "GetHistoryReports", params);
        v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["history_report_id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(list(&[]), vec![id, id2]);
    assert_eq!(list(&[("desc_order", "true")]), vec![id2, id]);
    assert_eq!(list(&[("is_completed", "1")]), vec![id, id2]);
    assert_eq!(list(&[("is_completed", "false")]), Vec::<u64>::new());
    assert_eq!(list(&[("count", "1"), ("offset", "1")]), vec![id2]);
    assert_eq!(list(&[("history_type", "calls")]), Vec::<u64>::new());
    assert_eq!(list(&[("history_type", "calls;audit")]), vec![id, id2]);
    assert_eq!(
        list(&[("created_from", "2999-01-01 00:00:00")]),
        Vec::<u64>::new()
    );
    assert_eq!(
        list(&[
            ("created_from", "2000-01-01 00:00:00"),
            ("created_to", "2999-01-01 00:00:00")
        ]),
        vec![id, id2]
    );
    let v = vox(
        url,
        &tok,
        How::GetPath,
        "GetHistoryReports",
        &[("count", "1")],
    );
    assert_eq!(
        (v["count"].clone(), v["total_count"].clone()),
        (json!(1), json!(2))
    );

    // Tenant isolation: customer 9 sees none of it.
    let t9 = token("k9", 1, json!(9), 600);
    let unknown = vox(
        url,
        &t9,
        How::PostFormPath,
        "DownloadHistoryReport",
        &[("history_report_id", "999999")],
    );
    assert_eq!(unknown["error"]["code"], 101);
    let theirs = vox(
        url,
        &t9,
        How::PostFormPath,
        "DownloadHistoryReport",
        &[("history_report_id", &id.to_string())],
    );
    assert_eq!(theirs["error"]["code"], 101, "{theirs}");
    assert_eq!(
        theirs["error"]["msg"]
            .as_str()
            .unwrap()
            .replace(&id.to_string(), "N"),
        unknown["error"]["msg"]
            .as_str()
            .unwrap()
            .replace("999999", "N"),
        "another customer's report looks exactly like an unknown one"
    );
    let v = vox(url, &t9, How::GetPath, "GetHistoryReports", &[]);
    assert_eq!(v["total_count"], 0, "{v}");
    let v = vox(
        url,
        &t9,
        How::GetPath,
        "GetHistoryReports",
        &[("history_report_id", &id.to_string())],
    );
    assert_eq!(v["count"], 0);
    // Customer 3's record ids asked for by customer 9: nothing.
    let ids3: Vec<String> = all3.iter().take(20).map(|r| r.id.to_string()).collect();
    let v = vox(
        url,
        &t9,
        How::GetPath,
        "GetAuditLog",
        &[
            ("from_date", &from),
            ("to_date", &to),
            ("audit_log_id", &ids3.join(";")),
        ],
    );
    assert_eq!(
        (v["count"].clone(), v["total_count"].clone()),
        (json!(0), json!(0)),
        "{v}"
    );
    // Customer 9's own rows are only its own (not 10's, its child).
    let v = vox(
        url,
        &t9,
        How::GetPath,
        "GetAuditLog",
        &[("from_date", &from), ("to_date", &to), ("count", "1000")],
    );
    let rows = v["result"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["account_id"] == 9));
    // Enswitch: customer 2 can't reach 3, and its recursive scope stays
    // inside its subtree.
    let s = format!("start={ALL_TIME}");
    assert_eq!(ens_err(&fx, "c2", &format!("{s};customer=3")).0, 402);
    let (st, v) = ens(url, "c2", &format!("{s};customer=recursive"));
    assert_eq!(st, 200);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| [4, 5, 7, 8].contains(&r["customer"].as_u64().unwrap())));
}

// ---------------------------------------------------------------------
// Checkpoints.

#[test]
fn checkpoint_endpoint_is_owner_only_and_signed() {
    let fx = fixture(50, 21);
    let url = &fx.srv.url;
    let get = |user: Option<(&str, &str)>| {
        let mut r = client().get(format!("{url}/api/v1/checkpoint"));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        let r = r.send().unwrap();
        let st = r.status().as_u16();
        (st, r.json::<Value>().unwrap())
    };
    // "noaudit" holds the owner role.
    let (st, v) = get(Some(("noaudit", "noaudit-pw")));
    assert_eq!(st, 200, "{v}");
    let cp: auditlog::Checkpoint = serde_json::from_value(v).unwrap();
    assert_eq!(cp.last_id, fx.log.last_id());
    let key = fx.log.public_key().unwrap();
    assert!(fx.log.verify_checkpoint(&cp, &key).unwrap().is_ok());
    // Others: 403; bad or no credentials: 401.
    assert_eq!(get(Some(("writer2", "writer2-pw"))).0, 403);
    assert_eq!(get(Some(("noaudit", "wrong"))).0, 401);
    assert_eq!(get(None).0, 401);
}

// ---------------------------------------------------------------------
// Ingestion.

fn ingest(
    url: &str,
    user: &str,
    pw: &str,
    body: impl Into<reqwest::blocking::Body>,
) -> (u16, Value) {
    let r = client()
        .post(format!("{url}/api/v1/records"))
        .basic_auth(user, Some(pw))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    let st = r.status().as_u16();
    if st == 401 {
        assert!(r.headers().get("www-authenticate").is_some());
    }
    (st, r.json().unwrap())
}

#[test]
fn ingestion_is_all_or_nothing_and_confined_to_the_callers_subtree() {
    let fx = fixture(100, 16);
    let url = &fx.srv.url;
    let before = fx.log.last_id();
    let t = BASE_S + 50_000;
    let good = format!(
        "{{\"time\":{t},\"customer\":2,\"person\":\"ing_a\",\"action\":\"CreateUser\",\"args\":{{\"x\":1}}}}\n\
         {{\"time\":\"2026-01-01T13:53:21.123456Z\",\"customer\":8,\"person\":\"ing_b\",\"refs\":[\"r1\"]}}\r\n\
         \n\
         {{\"customer\":4,\"person\":\"ing_c\",\"name\":\"=1+1\"}}\n"
    );
    let (st, v) = ingest(url, "writer2", "writer2-pw", good);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 3);
    let ids: Vec<u64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![before + 1, before + 2, before + 3]);
    assert_eq!(
        (v["first_id"].as_u64(), v["last_id"].as_u64()),
        (Some(before + 1), Some(before + 3))
    );
    // Stored, and listed through the API.
    let r = fx.log.get(before + 2).unwrap().unwrap();
    assert_eq!(
        (r.customer, r.person.as_str(), r.refs.clone()),
        (8, "ing_b", vec!["r1".to_string()])
    );
    assert_eq!(r.time.to_rfc3339(), "2026-01-01T13:53:21.123456Z");
    let (st, v) = ens(
        url,
        "writer2",
        &format!("start={ALL_TIME};customer=recursive;column=person;match=start;value=ing_"),
    );
    assert_eq!(st, 200);
    let listed: Vec<u64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "8 and 4 are under 2: {v}");
    let (_, v) = ens(
        url,
        "writer2",
        &format!("start={ALL_TIME};column=person;value=ing_a"),
    );
    assert_eq!(v["data"][0]["id"], before + 1);
    assert_eq!(v["data"][0]["time"], t);

    let last = fx.log.last_id();
    let bad = |body: String, want_status: u16, want_line: u64| {
        let (st, v) = ingest(url, "writer2", "writer2-pw", body.clone());
        assert_eq!(st, want_status, "{body}: {v}");
        assert_eq!(v["error"]["code"], want_status);
        assert_eq!(v["error"]["line"], want_line, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(&format!("line {want_line}: ")), "{msg}");
        assert_eq!(fx.log.last_id(), last, "nothing stored after {body:?}");
        msg.to_string()
    };
    let ok = "{\"customer\":2}";
    let m = bad(
        format!("{ok}\n{ok}\n{{\"customer\":2,\"person\":5}}\n{ok}\n"),
        400,
        3,
    );
    assert!(m.contains("person"), "{m}");
    let m = bad(format!("{ok}\n{{\"customer\":2,\"id\":9}}\n"), 400, 2);
    assert!(m.contains("id"), "{m}");
    bad(format!("{ok}\n{{\"customer\":2,\"unknown\":1}}\n"), 400, 2);
    bad(
        format!("{ok}\n{{\"customer\":2,\"time\":\"yesterday\"}}\n"),
        400,
        2,
    );
    bad(format!("{ok}\n{{\"customer\":2,\"time\":-5}}\n"), 400, 2);
    bad("{\"person\":\"x\"}".into(), 400, 1);
    bad(format!("{ok}\n{{\"customer\":2"), 400, 2);
    bad(format!("{ok}\n[1,2]\n"), 400, 2);
    bad(
        format!(
            "{ok}\n{{\"customer\":2,\"name\":\"{}\"}}\n",
            "x".repeat(70_000)
        ),
        400,
        2,
    );
    // Another customer's record (3 is not under 2): 403 naming the line.
    let m = bad(format!("{ok}\n{ok}\n{{\"customer\":3}}\n"), 403, 3);
    assert!(m.contains("customer 3"), "{m}");
    bad("{\"customer\":1}\n".to_string(), 403, 1);
    // Invalid UTF-8.
    let r = client()
        .post(format!("{url}/api/v1/records"))
        .basic_auth("writer2", Some("writer2-pw"))
        .body(b"{\"customer\":2}\n{\"customer\":2,\"name\":\"\xff\"}\n".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["error"]["line"], 2);
    // Roles and credentials.
    let (st, _) = ingest(url, "top", "top-pw", ok.to_string());
    assert_eq!(st, 403, "no writer role");
    let (st, _) = ingest(url, "writer2", "wrong", ok.to_string());
    assert_eq!(st, 401);
    let (st, _) = ingest(url, "nobody", "x", ok.to_string());
    assert_eq!(st, 401);
    let r = client()
        .post(format!("{url}/api/v1/records"))
        .body(ok)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(fx.log.last_id(), last);
    // Too large (limit 256 KiB): declared length, and chunked.
    let line = format!("{{\"customer\":2,\"name\":\"{}\"}}\n", "y".repeat(1000));
    let big = line.repeat(400);
    let (st, v) = ingest(url, "writer2", "writer2-pw", big.clone());
    assert_eq!(st, 413, "{v}");
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(big.into_bytes()));
    let (st, _) = ingest(url, "writer2", "writer2-pw", chunked);
    assert_eq!(st, 413);
    assert_eq!(fx.log.last_id(), last);
    // Empty: nothing stored, nothing wrong.
    let (st, v) = ingest(url, "writer2", "writer2-pw", String::new());
    assert_eq!((st, v), (200, json!({"count": 0, "ids": []})));
    // Concurrent writers: every batch gets its own consecutive ids.
    let url2 = url.clone();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let url = url2.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for b in 0..10 {
                    let body: String = (0..25)
                        .map(|i| format!("{{\"customer\":5,\"person\":\"w{w}b{b}i{i}\"}}\n"))
                        .collect();
                    let (st, v) = ingest(&url, "writer2", "writer2-pw", body);
                    assert_eq!(st, 200, "{v}");
                    let ids: Vec<u64> = v["ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_u64().unwrap())
                        .collect();
                    assert!(ids.windows(2).all(|p| p[1] == p[0] + 1));
                    got.push((w, b, ids));
                }
                got
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for h in handles {
        for (w, b, ids) in h.join().unwrap() {
            for (i, id) in ids.into_iter().enumerate() {
                assert!(seen.insert(id));
                assert_eq!(
                    fx.log.get(id).unwrap().unwrap().person,
                    format!("w{w}b{b}i{i}")
                );
            }
        }
    }
    assert_eq!(seen.len(), 1000);
}

// ---------------------------------------------------------------------
// Robustness, shutdown, signals.

#[test]
fn garbage_gets_clear_errors_and_the_server_keeps_serving() {
    let fx = fixture(200, 17);
    let url = &fx.srv.url;
    let c = client();
    let s = format!("auth_username=top&auth_password=top-pw&start={ALL_TIME}");
    for (what, req) in [
        (
            "bad UTF-8 name",
            c.get(format!("{url}/api/json/audit/list?%FF=1&{s}")),
        ),
        (
            "bad UTF-8 value",
            c.get(format!("{url}/api/json/audit/list?{s}&value=%C3%28")),
        ),
        (
            "empty name",
            c.get(format!("{url}/api/json/audit/list?{s}&=1")),
        ),
        (
            "too many parameters",
            c.get(format!(
                "{url}/api/json/audit/list?{s}&{}",
                (0..300)
                    .map(|i| format!("x{i}=1"))
                    .collect::<Vec<_>>()
                    .join("&")
            )),
        ),
        (
            "value too long",
            c.post(format!("{url}/api/json/audit/list"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("{s}&value={}", "v".repeat(70_000))),
        ),
        (
            "unknown body type",
            c.post(format!("{url}/api/json/audit/list"))
                .header("content-type", "text/plain")
                .body(s.clone()),
        ),
        (
            "broken multipart",
            c.post(format!("{url}/api/json/audit/list?{s}"))
                .header("content-type", "multipart/form-data; boundary=zz")
                .body("--zz\r\nnonsense"),
        ),
        (
            "JSON that is not an object",
            c.post(format!("{url}/api/json/audit/list?{s}"))
                .header("content-type", "application/json")
                .body("[1,2,3]"),
        ),
    ] {
        let r = req.send().unwrap();
        let st = r.status().as_u16();
        let v: Value = r.json().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(st == 400 || st == 413, "{what}: {st} {v}");
        assert_eq!(v["responses"][0]["code"], st.to_string(), "{what}");
    }
    // Voximplant garbage.
    let tok = t3();
    for body in ["{\"a\":{\"b\":1}}", "{", "null"] {
        let v: Value = c
            .post(format!("{url}/platform_api/GetAuditLog"))
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(v["error"]["code"], 101, "{body}: {v}");
    }
    let v: Value = c
        .post(format!("{url}/platform_api/GetAuditLog"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["error"]["code"], 100);
    let r = c
        .get(format!("{url}/platform_api/a/b/c"))
        .bearer_auth(&tok)
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], 103);
    // Unknown paths and methods.
    assert_eq!(
        c.get(format!("{url}/nope"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        c.delete(format!("{url}/api/v1/records"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    assert_eq!(
        c.get(format!("{url}/api/v1/records"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    // Raw garbage on the socket.
    {
        use std::io::Write;
        let mut sock = std::net::TcpStream::connect(fx.srv.addr).unwrap();
        sock.write_all(b"\x00\x01\x02 GARBAGE\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = sock.read_to_end(&mut buf);
    }
    // Still serving.
    let (st, _) = ens(url, "top", &format!("start={ALL_TIME}"));
    assert_eq!(st, 200);
}

#[test]
fn graceful_shutdown_finishes_the_answer_in_flight() {
    let fx = fixture(3000, 18);
    let Fx {
        srv,
        log,
        all,
        _dir,
        ..
    } = fx;
    let url = srv.url.clone();
    let mut resp = client()
        .get(format!(
            "{url}/api/json/audit/list/?auth_username=arch;auth_password=arch-pw;start={ALL_TIME};customer=system;archive=1"
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut first = [0u8; 64];
    resp.read_exact(&mut first).unwrap();
    // Stop while the answer is being read.
    srv.shutdown.trigger();
    let mut rest = Vec::new();
    resp.read_to_end(&mut rest).unwrap();
    let mut body = first.to_vec();
    body.extend_from_slice(&rest);
    let v: Value = serde_json::from_slice(&body).expect("a whole answer");
    assert_eq!(v["data"].as_array().unwrap().len(), all.len());
    srv.stop().unwrap();
    assert!(
        client().get(format!("{url}/nope")).send().is_err(),
        "no longer listening"
    );
    drop(log);
}

#[test]
fn binary_reloads_users_on_sighup_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml(&USERS[..1])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args([
            "--durability",
            "never",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--users",
        ])
        .arg(&users)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("auditlog: listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    let url = url.expect("the binary prints its address");
    let s = format!("start={ALL_TIME}");
    assert_eq!(ens(&url, "top", &s).0, 200);
    assert_eq!(ens(&url, "c2", &s).0, 401, "not a user yet");
    let pid = child.id().to_string();
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };
    // The server's log, line by line as it comes: each reload is awaited
    // by its log line (it is written once the new users are in force).
    let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if err_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log_lines: Vec<String> = Vec::new();
    let mut await_log = |needle: &str| loop {
        let line = err_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no {needle:?} in the server's log ({e}): {log_lines:?}"));
        let hit = line.contains(needle);
        log_lines.push(line);
        if hit {
            return;
        }
    };
    // Add c2 and reload: it gets in.
    let tmp = dir.path().join("users.toml.tmp");
    std::fs::write(&tmp, users_toml(&USERS[..3])).unwrap();
    std::fs::rename(&tmp, &users).unwrap();
    hup();
    await_log("users file reloaded");
    assert_eq!(
        ens(&url, "c2", &s).0,
        200,
        "SIGHUP did not reload the users file"
    );
    // A broken file is refused; the users in force stay.
    std::fs::write(&users, "[[user]]\nusername = 3\n").unwrap();
    hup();
    await_log("not reloaded");
    for _ in 0..10 {
        assert_eq!(ens(&url, "c2", &s).0, 200);
    }
    // Removing a user and reloading locks it out (the password cache is
    // cleared).
    std::fs::write(&users, users_toml(&USERS[..1])).unwrap();
    hup();
    await_log("users file reloaded");
    assert_eq!(ens(&url, "c2", &s).0, 401, "a removed user still gets in");
    // SIGTERM: a clean exit that syncs the log; its last line says so.
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    await_log("server stopped");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The rest of the log, to the end of the stream.
    log_lines.extend(err_rx.iter());
    let err = log_lines.join("\n");
    assert!(err.contains("log synced"), "{err}");
    assert!(
        !err.contains("top-pw") && !err.contains("c2-pw"),
        "no password in logs"
    );
    assert!(err.contains("users file reloaded"), "{err}");
    assert!(err.contains("not reloaded"), "{err}");
}

fn set_tree(url: &str, user: &str, pw: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{url}/api/v1/customers"))
        .basic_auth(user, Some(pw))
        .header("content-type", "text/csv")
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn customer_tree_is_set_through_the_server_within_the_callers_subtree() {
    let fx = fixture(50, 21);
    let url = &fx.srv.url;
    // writer2 belongs to customer 2 (under 1; 4 and 5 are under 2).
    let (st, v) = set_tree(
        url,
        "writer2",
        "writer2-pw",
        "id,parent\n900,2\n901,900\n5,4\n",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 3);
    let tree = fx.log.customer_tree();
    assert_eq!(tree.parent_of(900), Some(2));
    assert_eq!(tree.parent_of(901), Some(900));
    assert_eq!(tree.parent_of(5), Some(4));
    assert!(tree.is_within(901, 2));
    // Moving its own customer, a customer outside its subtree, or placing
    // one under a foreign parent is refused, naming the line; nothing applies.
    for bad in ["902,2\n2,5\n", "3,2\n", "903,3\n", "904,x\n"] {
        let (st, v) = set_tree(url, "writer2", "writer2-pw", bad);
        assert!(st == 403 || st == 400, "{bad:?} -> {st} {v}");
        assert!(v.to_string().contains("line"), "{v}");
        assert_eq!(
            fx.log.customer_tree().parent_of(902),
            None,
            "partially applied"
        );
    }
    // A role without `writer` and bad credentials are refused.
    let (st, _) = set_tree(url, "writer2", "wrong", "906,2\n");
    assert_eq!(st, 401);
    assert_eq!(fx.log.customer_tree().parent_of(906), None);
}
