#!/usr/bin/env bash
# Create (if missing) the project-local Python venv at $ROOT/.venv holding the
# test-side tools: the SCIM conformance checkers (scim2-tester via scim2-cli,
# scim-sanity) and moto's standalone server (moto_server) with flask/flask-cors.
#
# Idempotent: the pip install is skipped when .venv/.tools-stamp holds the
# sha256 of the requirement list below, so a repeated run is a fast no-op.
# Prints exactly one line saying what it did (pip's output goes to
# .venv/.tools-install.log and is shown only if pip fails).
#
# Env: PYTHON=/path/to/python3 to choose the interpreter (needs >= 3.11,
# scim2-tester/scim2-client/scim2-models require it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.tools-stamp"
LOG="$VENV/.tools-install.log"
PYTHON="${PYTHON:-python3}"

# Pinned requirements. Changing this list changes the stamp, which triggers a
# reinstall on the next run.
REQUIREMENTS=(
  "scim2-tester[httpx2]==0.5.2"
  "scim2-client[httpx2]==0.13.2"
  "scim2-models==0.12.3"
  "scim2-cli==0.6.0"
  "scim-sanity==0.7.4"
  "moto[dynamodb,secretsmanager]==5.2.5"
  "flask==3.1.3"
  "flask-cors==6.0.5"
)

want="$(printf '%s\n' "${REQUIREMENTS[@]}" | sha256sum | cut -d' ' -f1)"

created=0
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
    echo "tools-venv: $PYTHON is missing or older than Python 3.11 (set PYTHON=...)" >&2
    exit 1
  fi
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "tools-venv: failed to upgrade pip in new venv $VENV" >&2
    exit 1
  fi
  created=1
fi

have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$created" == 0 && "$have" == "$want" ]]; then
  echo "tools-venv: $VENV up to date (stamp ${want:0:12}), nothing installed"
  exit 0
fi

rm -f "$STAMP"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQUIREMENTS[@]}" >>"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "tools-venv: pip install failed (log: $LOG)" >&2
  exit 1
fi
printf '%s\n' "$want" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"

if [[ "$created" == 1 ]]; then
  echo "tools-venv: created $VENV and installed ${#REQUIREMENTS[@]} pinned requirements (stamp ${want:0:12})"
else
  echo "tools-venv: requirements changed, installed ${#REQUIREMENTS[@]} pinned requirements into $VENV (stamp ${want:0:12})"
fi
