# The verbs a newcomer needs. `make help` lists them.
.DEFAULT_GOAL := help
CARGO ?= cargo
SCIM_LISTEN ?= 127.0.0.1:8080
export SCIM_LISTEN

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
		'{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > width) width = length($$1) } \
		 END { for (i = 1; i <= NR; i++) printf "  make %-" width "s  %s\n", name[i], text[i] }'

run: ## the service on SCIM_LISTEN (default 127.0.0.1:8080) with the embedded store; the first start prints a bearer token
	$(CARGO) run --quiet --bin scim-lambda

run-dynamodb: tools ## the service on SCIM_LISTEN on the DynamoDB store, with moto standing in for DynamoDB (for scimctl tenant/users/import/conflicts)
	bash scripts/run-dynamodb.sh

table: ## create the DynamoDB table named by SCIM_TABLE (the AWS settings come from the environment)
	$(CARGO) run --quiet --bin scimctl -- table create

tools: ## the project-local Python venvs: .venv (conformance tools, moto, selenium, the test OIDC provider) and .venv-aws (cfn-lint, sam, cargo-lambda)
	bash scripts/tools-venv.sh

browser-deps: ## Debian's chromium and chromium-driver for the console's browser tests (apt-get, as root; a no-op when present)
	bash scripts/browser-deps.sh

test: tools browser-deps ## everything: unit, property, contract, black-box HTTP, Lambda events, README walk-through, conformance, browser and OpenID Connect infrastructure, AWS checks
	$(CARGO) test --workspace
	bash tests/readme/run.sh
	bash tests/conformance/run.sh
	.venv/bin/python -m unittest discover -s tests/console
	bash scripts/aws-check.sh

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

# --- AWS (infra/README.md) -------------------------------------------------------------------
AWS_TOOLS := $(CURDIR)/.venv-aws/bin
ARCH ?= arm64
# Only an ARCH given on the command line is passed to sam: command-line parameter overrides replace
# (not extend) those saved in samconfig.toml by `sam deploy --guided`.
ARCH_OVERRIDE := $(if $(filter command line,$(origin ARCH)),--parameter-overrides Architecture=$(ARCH))
STACK ?= scim

watch: tools ## the Lambda function under cargo lambda watch (emulator on 127.0.0.1:9000; embedded store unless SCIM_STORE=dynamodb; tokens from .local/tokens.json: scimctl token create)
	SCIM_STORE=$${SCIM_STORE:-memory} \
	SCIM_TOKEN_REGISTRY=$${SCIM_TOKEN_REGISTRY:-file:.local/tokens.json} \
	SCIM_CURSOR_KEY=$${SCIM_CURSOR_KEY:-$$(head -c 32 /dev/urandom | base64)} \
	SCIM_PUBLIC_BASE_URL=$${SCIM_PUBLIC_BASE_URL:-http://127.0.0.1:9000/lambda-url/scim-lambda/scim/v2} \
	PATH="$(AWS_TOOLS):$$PATH" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port 9000

build-lambda: tools ## target/lambda/scim-lambda/bootstrap for ARCH=arm64 (or x86_64); prints its size; SCHEMA_EXTENSIONS=<file> ships that file beside it
	SCHEMA_EXTENSIONS="$(SCHEMA_EXTENSIONS)" bash scripts/build-lambda.sh $(ARCH)

aws-check: tools ## cfn-lint, sam validate --lint, template tests, Lambda build, sam build (no AWS account needed)
	bash scripts/aws-check.sh

deploy: tools ## sam build + sam deploy with samconfig.toml defaults (needs AWS credentials)
	PATH="$(AWS_TOOLS):$$PATH" sam build --beta-features $(ARCH_OVERRIDE)
	PATH="$(AWS_TOOLS):$$PATH" sam deploy --stack-name $(STACK) $(ARCH_OVERRIDE)

logs: tools ## follow the function's logs (needs AWS credentials)
	PATH="$(AWS_TOOLS):$$PATH" sam logs --stack-name $(STACK) --name ScimFunction --tail

# Where cargo puts the binaries the bench and the soak run: CARGO_TARGET_DIR when set.
BENCH_BIN := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release

bench: tools ## requests/s, p50/p99 latency, peak RSS (embedded store, 10,000 users), GET by id as a share of a bare axum floor; DynamoDB on moto (300 users): calls, request units and cost per million operations
	$(CARGO) build --quiet --release --bin scim-lambda --bin scim-bench
	$(BENCH_BIN)/scim-bench --server $(BENCH_BIN)/scim-lambda

soak: ## bounded soak on 127.0.0.1 (~3 min, SOAK_ARGS="--seconds 60" to change): mixed IdP load with refusals mixed in; fails on 5xx, lost writes, memory growth
	$(CARGO) build --quiet --release --bin scim-lambda --bin scim-bench
	$(BENCH_BIN)/scim-bench soak --server $(BENCH_BIN)/scim-lambda $(SOAK_ARGS)

.PHONY: help run run-dynamodb table tools browser-deps test lint bench soak watch build-lambda aws-check deploy logs
