#!/usr/bin/env bash
# `make run-dynamodb`: the service on 127.0.0.1 on the DynamoDB store, with moto (from .venv)
# standing in for DynamoDB, so scimctl's data commands (tenant, users, import, conflicts) reach the
# same table as the server. moto runs through the serializing launcher the tests use (its
# transactions are not isolated from concurrent requests) and stops with this script. The data
# lives in moto's memory: gone when it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools-venv.sh >/dev/null
port="${SCIM_LOCAL_DYNAMODB_PORT:-5005}"
export AWS_ENDPOINT_URL="http://127.0.0.1:${port}" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export SCIM_STORE=dynamodb SCIM_TABLE="${SCIM_TABLE:-scim-local}"
mkdir -p .local
.venv/bin/python crates/scim-testkit/src/serial_moto.py 127.0.0.1 "$port" >.local/moto.log 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "$AWS_ENDPOINT_URL" && break
  kill -0 "$moto" 2>/dev/null || { echo "moto did not start; see .local/moto.log" >&2; exit 1; }
  sleep 0.2
done
cargo run --quiet --bin scimctl -- table create
echo "scimctl reaches this table with:"
echo "  AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local SCIM_TABLE=$SCIM_TABLE"
cargo run --quiet --bin scim-lambda
