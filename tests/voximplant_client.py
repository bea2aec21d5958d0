"""The official Voximplant Python client against `auditlog serve`.

Run by tests/voximplant_client.sh (which installs the client, generates
the RSA key and starts the server); see there. Environment: AUDITLOG_URL,
WORK (holds key.pem and pub.pem), SERVER_PID, DEMO_PASSWORD, USERS_FILE.
"""

import base64
import csv
import datetime
import io
import json
import os
import random
import signal
import sys
import time
import urllib.request

import httpx
from voximplant.apiclient import VoximplantAPI, VoximplantException

URL = os.environ["AUDITLOG_URL"]
HOST = URL.split("://", 1)[1]
WORK = os.environ["WORK"]
UTC = datetime.timezone.utc

passed = 0


def check(cond, what):
    global passed
    if not cond:
        print(f"FAIL: {what}")
        print(f"voximplant client: {passed} passed, 1 failed")
        sys.exit(1)
    passed += 1


# --- The service account: key, credentials.json, users file, SIGHUP. ------

KEY_ID = "ci-key-0001"
ACCOUNT = 1
with open(f"{WORK}/key.pem") as f:
    private_pem = f.read()
with open(f"{WORK}/pub.pem") as f:
    public_pem = f.read()
with open(f"{WORK}/credentials.json", "w") as f:
    json.dump(
        {
            "account_id": ACCOUNT,
            "account_email": "ci@example.invalid",
            "key_id": KEY_ID,
            "private_key": private_pem,
        },
        f,
    )
with open(os.environ["USERS_FILE"], "a") as f:
    f.write(
        f'\n[[user]]\nusername = "vox"\ncustomer = {ACCOUNT}\nroles = ["owner"]\n'
        f'key_id = "{KEY_ID}"\npublic_key = """\n{public_pem}"""\n'
    )
os.kill(int(os.environ["SERVER_PID"]), signal.SIGHUP)

# --- Route the client's https://<endpoint>/platform_api to plain HTTP. ----

real_post = httpx.post
posted = []


def post(url, *args, **kwargs):
    posted.append(url)
    if url != f"https://{HOST}/platform_api":
        raise AssertionError(f"unexpected URL {url}")
    return real_post("http://" + url[len("https://"):], *args, **kwargs)


httpx.post = post
api = VoximplantAPI(f"{WORK}/credentials.json", endpoint=HOST)

for _ in range(400):
    try:
        api.get_history_reports()
        break
    except VoximplantException as e:
        if e.code != 100:
            raise
        time.sleep(0.05)
else:
    check(False, "the service account was not accepted after SIGHUP")
check(posted[-1] == f"https://{HOST}/platform_api", "the client posts to /platform_api")

# --- A known dataset, ingested over HTTP. ----------------------------------

rng = random.Random(20260301)
BASE = int(datetime.datetime(2026, 3, 1, tzinfo=UTC).timestamp())
PERSONS = ["alice", "bob", "@admin", "carol", ""]
IPS = ["203.0.113.5", "198.51.100.7", "10.0.0.1"]
CMDS = ["CreateUser", "DeleteUser", "UpdateSettings", "GetAccountInfo", "BindPhoneNumber"]
records = []
for i in range(400):
    r = {
        "customer": ACCOUNT,
        "time": BASE + i * 60 + rng.randrange(60),
        "person": rng.choice(PERSONS),
        "source": rng.choice(IPS),
        "action": rng.choice(CMDS),
        "object": "user",
        "object_id": str(i % 13),
        "name": f"Name, \"{i}\"",
    }
    if i % 3:
        r["refs"] = [f"7495{i % 7}"]
    if rng.random() < 0.7:
        r["args"] = {"user_name": r["person"] or "x", "n": i, "tags": ["a", "b"]}
    if rng.random() < 0.3:
        r["result"] = {"user_id": i, "ok": True}
    records.append(r)


def ingest(batch):
    body = "".join(json.dumps(r) + "\n" for r in batch).encode()
    req = urllib.request.Request(f"{URL}/api/v1/records", data=body, method="POST")
    token = base64.b64encode(f"demo:{os.environ['DEMO_PASSWORD']}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    req.add_header("Content-Type", "application/x-ndjson")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["ids"]


ids = ingest(records[:150]) + ingest(records[150:])
check(len(ids) == 400 and ids == list(range(ids[0], ids[0] + 400)), "ingest assigns 400 ids")
for r, i in zip(records, ids):
    r["id"] = i


# --- Expected values. --------------------------------------------------------

def requested(r):
    return datetime.datetime.fromtimestamp(r["time"], UTC)


def info(r):
    """AuditLogInfoType as the client returns it (requested parsed)."""
    d = {
        "audit_log_id": r["id"],
        "account_id": ACCOUNT,
        "requested": requested(r),
        "ip": r["source"],
        "cmd_name": r["action"],
        "cmd_args": r.get("args", {}),
    }
    if r["person"]:
        d["subuser_name"] = r["person"]
    if "result" in r:
        d["cmd_result"] = r["result"]
    return d


def select(rows, since, until, cmds=None, ips=None, persons=None, relation=None,
           idset=None, desc=False):
    out = [
        r for r in rows
        if since <= requested(r) < until
        and (cmds is None or r["action"] in cmds)
        and (ips is None or r["source"] in ips)
        and (persons is None or r["person"] in persons)
        and (relation is None or r["object_id"] == relation or relation in r.get("refs", []))
        and (idset is None or r["id"] in idset)
    ]
    out.sort(key=lambda r: (r["time"], r["id"]), reverse=desc)
    return out


FROM = datetime.datetime(2026, 3, 1)
TO = datetime.datetime(2026, 3, 2)
FROM_UTC = FROM.replace(tzinfo=UTC)
TO_UTC = TO.replace(tzinfo=UTC)

# --- get_audit_log. --------------------------------------------------------


def same_rows(res, want, what):
    check("error" not in res, f"{what}: {res.get('error')}")
    check(res["result"] == [info(r) for r in want],
          f"{what}: {len(res['result'])} rows, want {len(want)}")
    check(res["count"] == len(want), f"{what}: count")


res = api.get_audit_log(from_date=FROM, to_date=TO, count=1000)
same_rows(res, select(records, FROM_UTC, TO_UTC), "get_audit_log: everything")
check(res["total_count"] == 400, "get_audit_log: total_count")

res = api.get_audit_log(from_date=FROM, to_date=TO, count=1000,
                        filtered_cmd=["CreateUser", "DeleteUser"],
                        filtered_ip=["203.0.113.5", "10.0.0.1"], desc_order=True)
want = select(records, FROM_UTC, TO_UTC, cmds={"CreateUser", "DeleteUser"},
              ips={"203.0.113.5", "10.0.0.1"}, desc=True)
same_rows(res, want, "get_audit_log: filtered_cmd, filtered_ip, desc_order")
check(res["total_count"] == len(want) and len(want) > 10, "filtered total_count")

res = api.get_audit_log(from_date=FROM, to_date=TO, count=1000,
                        filtered_admin_user_id="alice", advanced_filters="74953")
same_rows(res, select(records, FROM_UTC, TO_UTC, persons={"alice"}, relation="74953"),
          "get_audit_log: filtered_admin_user_id, advanced_filters (a ref)")
res = api.get_audit_log(from_date=FROM, to_date=TO, count=1000, advanced_filters="5")
same_rows(res, select(records, FROM_UTC, TO_UTC, relation="5"),
          "get_audit_log: advanced_filters (an object id)")

some = [records[k]["id"] for k in (3, 17, 99, 250, 399)]
res = api.get_audit_log(from_date=FROM, to_date=TO, audit_log_id=some)
same_rows(res, select(records, FROM_UTC, TO_UTC, idset=set(some)), "get_audit_log: audit_log_id list")

res = api.get_audit_log(from_date=FROM, to_date=TO, count=10, offset=5, with_total_count=False)
same_rows(res, select(records, FROM_UTC, TO_UTC)[5:15], "get_audit_log: count, offset")
check("total_count" not in res, "with_total_count=False leaves total_count out")

res = api.get_audit_log(from_date=FROM, to_date=TO)
check(res["count"] == 100 and res["total_count"] == 400, "default count is 100")

lo, hi = requested(records[40]), requested(records[50])
res = api.get_audit_log(from_date=lo.replace(tzinfo=None), to_date=hi.replace(tzinfo=None), count=1000)
same_rows(res, select(records, lo, hi), "get_audit_log: to_date is exclusive")

try:
    api.get_audit_log(to_date=TO)
    check(False, "a missing from_date must raise")
except VoximplantException as e:
    check(e.code == 101, f"missing from_date is 101, got {e.code}")

# --- get_audit_log_async, get_history_reports, download_history_report. ----


def cell(v):
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def csv_rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def expect_csv(rows, got, header, what):
    if header:
        check(got[0] == ["audit_log_id", "account_id", "subuser_name", "requested", "ip",
                         "cmd_name", "cmd_args", "cmd_result"], f"{what}: header {got[0]}")
        got = got[1:]
    check(len(got) == len(rows), f"{what}: {len(got)} rows, want {len(rows)}")
    for r, g in zip(rows, got):
        check(g[:6] == [str(r["id"]), str(ACCOUNT), cell(r["person"]),
                        requested(r).strftime("%Y-%m-%d %H:%M:%S"), r["source"], r["action"]],
              f"{what}: row {r['id']}: {g}")
        check(json.loads(g[6]) == r.get("args", {}), f"{what}: cmd_args of {r['id']}")
        check((json.loads(g[7]) if g[7] else None) == r.get("result"),
              f"{what}: cmd_result of {r['id']}")


def wait_completed(report_id):
    for _ in range(600):
        res = api.get_history_reports(history_report_id=report_id)
        check(res["count"] == 1, f"report {report_id} is listed")
        if "completed" in res["result"][0]:
            return res["result"][0]
        time.sleep(0.05)
    check(False, f"report {report_id} did not complete")


res = api.get_audit_log_async(from_date=FROM, to_date=TO, filtered_cmd=["CreateUser", "UpdateSettings"],
                              desc_order=True, with_header=True, output="csv")
check(res.get("result") == 1 and isinstance(res.get("history_report_id"), int), f"async answer {res}")
rid = res["history_report_id"]
rep = wait_completed(rid)
check(rep["history_type"] == "audit" and rep["format"] == "csv", "history_type, format")
check(rep["file_name"] == f"audit_{rid}.csv", "file_name")
check(isinstance(rep["created"], datetime.datetime) and isinstance(rep["completed"], datetime.datetime),
      "created and completed parse as datetimes")
check(isinstance(rep["store_until"], datetime.date), "store_until parses as a date")
check(rep["filters"]["filtered_cmd"] == "CreateUser;UpdateSettings", f"filters {rep['filters']}")
want = select(records, FROM_UTC, TO_UTC, cmds={"CreateUser", "UpdateSettings"}, desc=True)
check(len(want) > 50, "the report has rows")

dl = api.download_history_report(rid)
check(set(dl) == {"file_content"}, f"download answer keys {list(dl)[:3]}")
expect_csv(want, csv_rows(dl["file_content"]), True, "report CSV")
check(rep["file_size"] == len(dl["file_content"].encode()), "file_size is the CSV's size")

res = api.get_audit_log_async(from_date=FROM, to_date=TO, with_header=False)
rid2 = res["history_report_id"]
wait_completed(rid2)
expect_csv(select(records, FROM_UTC, TO_UTC), csv_rows(api.download_history_report(rid2)["file_content"]),
           False, "report CSV without header")

res = api.get_history_reports(desc_order=True)
check([r["history_report_id"] for r in res["result"]] == [rid2, rid], "listing, newest first")
check(res["count"] == 2 and res["total_count"] == 2, "count and total_count")
res = api.get_history_reports(is_completed=True, count=1, offset=1)
check([r["history_report_id"] for r in res["result"]] == [rid2] and res["total_count"] == 2,
      "is_completed, count, offset")
rep = api.get_history_reports(history_report_id=rid)["result"][0]
check(rep["download_count"] == 1 and isinstance(rep["last_downloaded"], datetime.datetime),
      "download_count and last_downloaded")

res = api.download_history_report(999999)
check(res.get("error", {}).get("code") == 101, f"an unknown report is error 101: {res}")

print(f"voximplant client: {passed} passed, 0 failed")
