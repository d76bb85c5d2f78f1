#!/usr/bin/env bash
# Create (if missing) the project-local Python venvs holding the test-side tools:
#   $ROOT/.venv      the SCIM conformance checkers (scim2-tester via scim2-cli, scim-sanity) and
#                    moto's standalone server (moto_server) with flask/flask-cors; and the
#                    console's browser-test tools: selenium (driving Debian's chromium, installed
#                    by scripts/browser-deps.sh), Canaille as the local OpenID Connect provider and
#                    joserfc to verify its ID tokens (tests/console/README.md);
#   $ROOT/.venv-aws  the AWS deployment tools: cfn-lint, the SAM CLI (sam) and cargo-lambda with
#                    the zig linker it cross-compiles with (ziglang). They live apart because
#                    aws-sam-cli pins click==8.1.8 while scim2-cli needs click>=8.5.
#
# Idempotent: each venv's pip install is skipped when its .tools-stamp holds the sha256 of its
# requirement list below, so a repeated run is a fast no-op. Prints exactly one line per venv
# saying what it did (pip's output goes to <venv>/.tools-install.log and is shown only if pip
# fails).
#
# Env: PYTHON=/path/to/python3 to choose the interpreter (needs >= 3.11,
# scim2-tester/scim2-client/scim2-models require it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

# Pinned requirements. Changing a list changes that venv's stamp, which triggers a reinstall on
# the next run.
REQUIREMENTS=(
  "scim2-tester[httpx2]==0.5.2"
  "scim2-client[httpx2]==0.13.2"
  "scim2-models==0.12.3"
  "scim2-cli==0.6.0"
  "scim-sanity==0.7.4"
  "moto[dynamodb,dynamodbstreams,events,sqs,secretsmanager]==5.2.5"
  "flask==3.1.3"
  "flask-cors==6.0.5"
  "selenium==4.51.0"
  "canaille[oidc]==0.3.6"
  "joserfc==1.8.0"
)
AWS_REQUIREMENTS=(
  "cfn-lint==1.58.0"
  "aws-sam-cli==1.170.0"
  "cargo-lambda==1.9.2"
  "ziglang==0.17.1"
)

# ensure_venv DIR REQUIREMENT...: create DIR as a venv if needed and install the requirements
# unless its stamp says they are already there.
ensure_venv() {
  local venv="$1"
  shift
  local stamp="$venv/.tools-stamp" log="$venv/.tools-install.log"
  local want have created=0
  want="$(printf '%s\n' "$@" | sha256sum | cut -d' ' -f1)"

  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
      echo "tools-venv: $PYTHON is missing or older than Python 3.11 (set PYTHON=...)" >&2
      exit 1
    fi
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >"$log" 2>&1; then
      cat "$log" >&2
      echo "tools-venv: failed to upgrade pip in new venv $venv" >&2
      exit 1
    fi
    created=1
  fi

  have="$(cat "$stamp" 2>/dev/null || true)"
  if [[ "$created" == 0 && "$have" == "$want" ]]; then
    echo "tools-venv: $venv up to date (stamp ${want:0:12}), nothing installed"
    return 0
  fi

  rm -f "$stamp"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "tools-venv: pip install failed (log: $log)" >&2
    exit 1
  fi
  printf '%s\n' "$want" >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"

  if [[ "$created" == 1 ]]; then
    echo "tools-venv: created $venv and installed $# pinned requirements (stamp ${want:0:12})"
  else
    echo "tools-venv: requirements changed, installed $# pinned requirements into $venv (stamp ${want:0:12})"
  fi
}

ensure_venv "$ROOT/.venv" "${REQUIREMENTS[@]}"
ensure_venv "$ROOT/.venv-aws" "${AWS_REQUIREMENTS[@]}"
