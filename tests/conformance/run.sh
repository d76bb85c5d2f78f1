#!/usr/bin/env bash
# Third-party conformance: starts the real `scim-lambda` binary on 127.0.0.1 (embedded store)
# and runs two suites exactly as their authors ship them, given only the URL and a bearer token:
# scim2-tester through scim2-cli's `scim2 test` and `scim-sanity probe`. Only the failures listed
# and explained (README.md, "Conformance") are allowed, and each must keep happening.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
bash scripts/tools-venv.sh
cargo build --quiet --bin scim-lambda
PY="$ROOT/.venv/bin/python"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TOKEN="SCIM_conformance-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
LOG="$(mktemp)"
# The suites send everything as one tenant, as fast as they can: lift the per-tenant limits.
SCIM_LISTEN="127.0.0.1:$PORT" SCIM_BOOTSTRAP_TOKEN="$TOKEN" \
  SCIM_TENANT_RATE_PER_SECOND=1000000 SCIM_TENANT_BURST=1000000 \
  "${CARGO_TARGET_DIR:-$ROOT/target}/debug/scim-lambda" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
export SCIM_URL="http://127.0.0.1:$PORT/scim/v2" SCIM_TOKEN="$TOKEN" SCIM_SANITY="$ROOT/.venv/bin/scim-sanity" \
  SCIM2="$ROOT/.venv/bin/scim2"
"$PY" - "$SERVER" <<'PY' || { cat "$LOG"; echo "conformance: the server did not start" >&2; exit 1; }
import os, sys, time, urllib.request
req = urllib.request.Request(os.environ["SCIM_URL"] + "/ServiceProviderConfig",
                             headers={"Authorization": "Bearer " + os.environ["SCIM_TOKEN"]})
for _ in range(200):
    try:
        urllib.request.urlopen(req, timeout=1)
        sys.exit(0)
    except OSError:
        try:
            os.kill(int(sys.argv[1]), 0)
        except OSError:
            sys.exit(1)
        time.sleep(0.1)
sys.exit(1)
PY
status=0
"$PY" tests/conformance/run_scim_sanity.py || status=1
"$PY" tests/conformance/run_scim2_tester.py || status=1
if grep -q "$TOKEN" "$LOG"; then echo "conformance: the token appears in the server log" >&2; status=1; fi
exit $status
