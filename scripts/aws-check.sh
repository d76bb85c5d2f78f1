#!/usr/bin/env bash
# Everything about the AWS stack that can be proven without an AWS account, in the order an
# operator follows infra/README.md: tools, lint and validate, the template's properties, the
# Lambda build for the target architecture, and `sam build`. It stops where `sam deploy` would
# need credentials and an S3 bucket, and says so.
#
#   bash scripts/aws-check.sh            # all steps (about 5 minutes cold on 2 cores; the build dominates)
#   SKIP_LAMBDA_BUILD=1 bash scripts/...  # lint, validate and template tests only
#
# Fails on the first step that fails. Prints one "aws-check:" line per step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/tools-venv.sh >/dev/null
export PATH="$ROOT/.venv-aws/bin:$PATH"
# sam needs a region even to validate; no credentials are used by any step below.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-eu-west-1}}"
export SAM_CLI_TELEMETRY=0
ARCH="${SCIM_LAMBDA_ARCH:-arm64}"
# arm64 needs the aarch64 standard library from rustup. Where rustup cannot fetch it, prove the
# x86_64 build instead (the template's Architecture parameter allows both) and say so.
if [[ "$ARCH" == arm64 ]] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
  && ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  echo "aws-check: rustup cannot install aarch64-unknown-linux-gnu here; checking the x86_64 build instead" >&2
  ARCH=x86_64
fi

step() { printf 'aws-check: %s\n' "$*"; }

# 1. Lint and validate (infra/README.md "Check before you deploy").
cfn-lint template.yaml infra/waf.yaml
step "cfn-lint template.yaml infra/waf.yaml: no findings"
sam validate --lint --template template.yaml >/dev/null
step "sam validate --lint: valid SAM template"

# 2. The template's properties, and the CloudFront function run under Node.
python_out="$(.venv-aws/bin/python -m unittest discover -s tests/infra 2>&1)" || {
  printf '%s\n' "$python_out" >&2
  exit 1
}
step "template tests: $(printf '%s\n' "$python_out" | grep -E '^Ran [0-9]+ tests' | head -1), $(printf '%s\n' "$python_out" | tail -1)"

if [[ -n "${SKIP_LAMBDA_BUILD:-}" ]]; then
  step "SKIP_LAMBDA_BUILD set: stopping before the build"
  exit 0
fi

# 3. The deployment artifact: cargo lambda cross-compiles with zig (from the venv) for Amazon Linux.
bash scripts/build-lambda.sh "$ARCH"

# 4. `make watch`: the Lambda entry point under cargo lambda's emulator, and one SCIM request
#    through it (infra/README.md "Developing against the Lambda runtime locally").
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port/lambda-url/scim-lambda/scim/v2"
# Under the emulator the function runs as under Lambda, which needs a token registry and a cursor
# key, and accepts no SCIM_BOOTSTRAP_TOKEN: a throwaway registry file with one token made by
# scimctl, and a random key.
registry="file:$ROOT/target/watch-tokens.json"
token="$(cargo run --quiet -p scimctl -- token --registry "$registry" create --name aws-check --expires 1d | head -n 1)"
SCIM_STORE=memory SCIM_PUBLIC_BASE_URL="$base" \
  SCIM_TOKEN_REGISTRY="$registry" SCIM_CURSOR_KEY="$(head -c 32 /dev/urandom | base64)" \
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" >target/watch.log 2>&1 &
watch_pid=$!
# setsid makes the watcher its own process group: stop it and the function it runs, nothing else.
trap 'kill -- -"$watch_pid" 2>/dev/null || true' EXIT
# The watcher builds the function on the first request it gets, which takes minutes on a busy
# machine: wait for a read to answer (a read can be repeated; a create cannot: a repeat is a
# 409), within 15 minutes, then create once.
answer=""
deadline=$((SECONDS + 900))
while [ "$SECONDS" -lt "$deadline" ]; do
  if curl -sf -o /dev/null -m "$((deadline - SECONDS))" -H "Authorization: Bearer $token" \
    "$base/ServiceProviderConfig"; then
    answer="$(curl -s -m 60 -H "Authorization: Bearer $token" -H 'Content-Type: application/scim+json' \
      "$base/Users" -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"watch@example.com"}')" || true
    break
  fi
  sleep 2
done
kill -- -"$watch_pid" 2>/dev/null || true
trap - EXIT
case "$answer" in
  *'"location":"'"$base"'/Users/'*) step "cargo lambda watch: POST /Users through the emulator answered 201 with meta.location under $base" ;;
  *)
    cat target/watch.log >&2
    echo "aws-check: no SCIM answer through cargo lambda watch (got: ${answer:-nothing})" >&2
    exit 1
    ;;
esac

# 5. `sam build` as `make deploy` runs it: the rust-cargolambda build method drives cargo lambda
#    again (same target directory, so it reuses step 3's artifacts) and stages .aws-sam/build.
start=$(date +%s)
sam build --beta-features --parameter-overrides "Architecture=$ARCH" >target/sam-build.log 2>&1 || {
  cat target/sam-build.log >&2
  exit 1
}
# Both functions (HTTP and events) run the same binary, so sam builds it once and both point at
# that artifact: check what the built template names, for every function.
codes=$(sed -n 's/^ *CodeUri: //p' .aws-sam/build/template.yaml | sort -u)
[[ -n "$codes" ]] || { echo "aws-check: sam build wrote no CodeUri" >&2; exit 1; }
for code in $codes; do
  built=".aws-sam/build/$code/bootstrap"
  [[ -x "$built" ]] || { echo "aws-check: sam build did not produce $built" >&2; exit 1; }
done
step "sam build: $built ($(stat -c %s "$built") bytes) and .aws-sam/build/template.yaml in $(($(date +%s) - start)) s"

# 6. `sam deploy` (and `sam package`, which it runs) uploads to S3 and calls CloudFormation: that
#    needs an AWS account and credentials, which this machine does not have. Stop here.
step "stopping before sam deploy/package: they need AWS credentials and an S3 bucket"
