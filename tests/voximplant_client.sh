#!/usr/bin/env bash
# Compatibility with the official Voximplant Python client
# (`voximplant-apiclient`), SPEC section 5.3 and issue 6.
#
# Installs the client from the Python package index into a throwaway
# virtualenv, starts `auditlog serve --demo` (built binary: $AUDITLOG_BIN,
# or built here with cargo) on a free loopback port, and runs
# tests/voximplant_client.py, which adds a service account with a freshly
# generated RSA key to the users file (reloaded with SIGHUP), ingests a known
# dataset over HTTP, and calls get_audit_log, get_audit_log_async,
# get_history_reports and download_history_report through the client,
# comparing every answer with values computed from the dataset.
#
# The client posts to https://<endpoint>/platform_api; the Python script
# routes that one URL to plain HTTP on loopback at run time (the package is
# not modified). Everything else the client does (form encoding, JWT
# signing, gzip decoding, date parsing) is its own.
#
# Exit status: 0 when every check passed, or (printing SKIP) when the
# package index cannot be reached; non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${AUDITLOG_BIN:-}
if [ -z "$bin" ]; then
    (cd "$here" && cargo build --quiet --bin auditlog)
    bin=${CARGO_TARGET_DIR:-$here/target}/debug/auditlog
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/auditlog-voxclient.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v python3 >/dev/null 2>&1; then
    echo "FAIL: python3 is needed to run the official Voximplant client" >&2
    exit 1
fi
python3 -m venv "$work/venv"
py=$work/venv/bin/python

echo "== installing voximplant-apiclient into a throwaway virtualenv"
pip_opts=(--disable-pip-version-check --timeout 30 --retries 2)
if ! "$py" -m pip install --quiet "${pip_opts[@]}" voximplant-apiclient >"$work/pip.log" 2>&1; then
    # Tell "the index cannot be reached" apart from "it can, but the
    # install broke": only the first is a skip.
    if ! "$py" -m pip download --quiet "${pip_opts[@]}" --no-deps --no-cache-dir \
        -d "$work/probe" voximplant-apiclient >>"$work/pip.log" 2>&1; then
        echo "SKIP: the Python package index is unreachable, so the official Voximplant client could not be installed; this compatibility check did not run."
        tail -n 3 "$work/pip.log"
        exit 0
    fi
    echo "FAIL: pip reached the index but could not install voximplant-apiclient:" >&2
    cat "$work/pip.log" >&2
    exit 1
fi
"$py" -m pip show voximplant-apiclient | sed -n 's/^Version: /voximplant-apiclient /p'

echo "== generating the service account's RSA key"
if command -v openssl >/dev/null 2>&1; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
    openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
else
    "$py" - "$work" <<'EOF'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1] + "/key.pem", "wb").write(k.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(sys.argv[1] + "/pub.pem", "wb").write(k.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
EOF
fi

echo "== starting auditlog serve"
"$bin" --data "$work/data" serve --listen 127.0.0.1:0 --users "$work/users.toml" --demo \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 600); do
    grep -q '^auditlog: listening on ' "$work/server.out" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "FAIL: the server exited:" >&2
        cat "$work/server.err" >&2
        exit 1
    fi
    sleep 0.05
done
url=$(sed -n 's/^auditlog: listening on //p' "$work/server.out")
password=$(sed -n 's/^auditlog: demo password (shown once): //p' "$work/server.out")
if [ -z "$url" ] || [ -z "$password" ]; then
    echo "FAIL: the server did not report its address and demo password:" >&2
    cat "$work/server.out" "$work/server.err" >&2
    exit 1
fi
echo "server at $url"

echo "== running the official client"
if ! AUDITLOG_URL=$url WORK=$work SERVER_PID=$server_pid DEMO_PASSWORD=$password \
    USERS_FILE=$work/users.toml "$py" "$here/tests/voximplant_client.py"; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$work/server.err" >&2
    exit 1
fi

kill -TERM "$server_pid"
if ! wait "$server_pid"; then
    echo "FAIL: the server did not stop cleanly on SIGTERM" >&2
    tail -n 20 "$work/server.err" >&2
    exit 1
fi
server_pid=
if grep -q "$password" "$work/server.err"; then
    echo "FAIL: the demo password appears in the server log" >&2
    exit 1
fi
echo "voximplant client check: done"
