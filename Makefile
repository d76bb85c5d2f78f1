# The verbs a newcomer needs. `make help` lists them.
.DEFAULT_GOAL := help
CARGO ?= cargo
SCIM_LISTEN ?= 127.0.0.1:8080
export SCIM_LISTEN

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## the service on $(SCIM_LISTEN) with the embedded store; the first start prints a bearer token
	$(CARGO) run --quiet --bin scim-lambda

tools: ## the project-local Python venv (.venv) with the conformance tools and moto
	bash scripts/tools-venv.sh

test: tools ## everything: unit, property, contract, black-box HTTP and third-party conformance
	$(CARGO) test --workspace
	bash tests/conformance/run.sh

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

bench: ## requests/s, p50/p99 latency and peak RSS against a local server holding 10,000 users
	$(CARGO) build --quiet --release --bin scim-lambda --bin scim-bench
	./target/release/scim-bench --server ./target/release/scim-lambda

.PHONY: help run tools test lint bench
