#!/usr/bin/env bash
# Runs the README's walk-through ("A first session with curl": the ```bash block after the
# "The walk-through" comment) literally against a fresh local server, and checks that every
# request answers the status its "# expect NNN" comment states, in order. Fails on drift: a status
# that differs, a curl without an expectation (or the reverse), or a command that fails.
#
# Usage: bash tests/readme/run.sh [README path]   (default: the repository's README.md)
# Needs bash, curl, sed, tr and python3 (all prerequisites of `make test`); network: 127.0.0.1 only.
# Leaves nothing behind: the server's token registry and all output live in a temporary directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
README="${1:-$ROOT/README.md}"
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The block, verbatim, and the statuses its comments expect (one per curl, in order).
python3 - "$README" "$WORK" <<'PY'
import re, sys
readme, work = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
marker = "<!-- The walk-through:"
at = text.find(marker)
if at < 0:
    sys.exit(f"readme walk-through: no '{marker}' comment in {readme}")
m = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M).search(text, at)
if not m:
    sys.exit(f"readme walk-through: no ```bash block after the walk-through comment in {readme}")
block = m.group(1)
comments = [l for l in block.splitlines() if l.lstrip().startswith("#")]
code = [l for l in block.splitlines() if not l.lstrip().startswith("#")]
expected = [s for l in comments for s in re.findall(r"\bexpect (\d{3})\b", l)]
curls = sum(len(re.findall(r"(?:^|[\s;|&(])curl\s", l)) for l in code)
if not expected or len(expected) != curls:
    sys.exit(f"readme walk-through: {curls} curl commands but {len(expected)} '# expect NNN' statuses")
open(f"{work}/walkthrough.sh", "w").write(block)
open(f"{work}/expected", "w").write("\n".join(expected) + "\n")
PY

# A fresh server on a free port of 127.0.0.1 (the OS picks it; the server prints its base URL).
TOKEN="SCIM_readme-walkthrough"
cargo build --quiet --bin scim-lambda
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SCIM_LISTEN=127.0.0.1:0 SCIM_STORE=memory SCIM_BOOTSTRAP_TOKEN="$TOKEN" \
  SCIM_TOKEN_REGISTRY="file:$WORK/tokens.json" RUST_LOG=warn \
  "$TARGET_DIR/debug/scim-lambda" >"$WORK/server.log" 2>&1 &
SERVER=$!
URL=""
for _ in $(seq 1 300); do
  URL="$(sed -n 's/^SCIM base URL: //p' "$WORK/server.log")"
  [[ -n "$URL" ]] && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$URL" ]]; then
  cat "$WORK/server.log" >&2
  echo "readme walk-through: the server did not start" >&2
  exit 1
fi

# Run the block as the README tells the user to: bash, with SCIM_URL and SCIM_TOKEN exported. A
# curl function records each response's headers in a file of its own, next to what the block
# asked for, so the block itself runs unchanged.
# The count lives in a file: a curl inside $(...) runs in a subshell.
cat >"$WORK/observe.sh" <<'SH'
curl() {
  local n
  n=$(($(cat "$WALKTHROUGH_DIR/calls" 2>/dev/null || echo 0) + 1))
  echo "$n" >"$WALKTHROUGH_DIR/calls"
  command curl -D "$WALKTHROUGH_DIR/headers.$n" "$@"
}
SH
status=0
SCIM_URL="$URL" SCIM_TOKEN="$TOKEN" WALKTHROUGH_DIR="$WORK" \
  bash -euo pipefail -c 'source "$WALKTHROUGH_DIR/observe.sh"; source "$WALKTHROUGH_DIR/walkthrough.sh"' \
  >"$WORK/output" 2>&1 || status=$?

: >"$WORK/actual"
n=1
while [[ -f "$WORK/headers.$n" ]]; do
  # The last status line (a 100 Continue comes first when there is one).
  tr -d '\r' <"$WORK/headers.$n" | sed -n 's#^HTTP/[0-9.]* \([0-9][0-9][0-9]\).*#\1#p' | tail -n 1 >>"$WORK/actual"
  n=$((n + 1))
done
if [[ $status -ne 0 ]] || ! diff -u --label "expected (README)" --label "answered" "$WORK/expected" "$WORK/actual"; then
  cat "$WORK/output" >&2
  [[ $status -ne 0 ]] && echo "readme walk-through: the block exited with status $status" >&2
  echo "readme walk-through: the README's statuses and the service's answers differ (see above)" >&2
  exit 1
fi
echo "readme walk-through: $(wc -l <"$WORK/expected") requests answered as README.md states"
