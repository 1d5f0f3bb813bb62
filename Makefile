# Memharbor: the one entry point. `make run` and `make test` do all set-up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STANDIN := crates/recorder-svc/tests/standin

.PHONY: help run demo test fmt lint typecheck unit deploy-check bench bench-tokens bench-http \
        bench-recorder bench-cluster setup-run setup-test setup-bench sdk env docker-env

help:
	@echo "make run     set up, build and start the gateway (:8001) and the recorder (:3100)"
	@echo "make demo    record a scripted local call (no Agora account needed) and play it back"
	@echo "make test    set up, then fmt check, clippy, the module-cycle check, the stand-in type check, deploy checks and every test"
	@echo "make bench   token build time, HTTP throughput vs the baselines, recorder stop latency and load"
	@echo "make fmt | make lint"

## Set-up ------------------------------------------------------------------------------------

setup-run:
	@scripts/setup-system.sh run

setup-test:
	@scripts/setup-system.sh test
	@scripts/setup-tools.sh

setup-bench:
	@scripts/setup-system.sh bench

# The pinned Agora Web SDK the recorder page loads (vendor/, not committed).
sdk:
	@scripts/fetch-agora-sdk.sh

# A local .env with working placeholder credentials, made once from .env.example, and a random
# MEMHARBOR_SECRET_KEY (added to an existing .env that has none).
.env:
	@cp .env.example .env
	@echo "created .env from .env.example (placeholder Agora credentials; edit it for a real project)"

env: .env
	@scripts/ensure-secret.sh .env

# docker-compose's env files, one per service, sharing a random MEMHARBOR_SECRET_KEY.
docker-env:
	@scripts/docker-env.sh

## Run --------------------------------------------------------------------------------------

run: setup-run sdk env
	@scripts/run.sh

demo: setup-test sdk
	@scripts/demo.sh

## Checks -----------------------------------------------------------------------------------

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@python3 scripts/check_module_cycles.py

# The stand-in and the recorder page against agora-rtc-sdk-ng's own TypeScript declarations.
typecheck:
	@cd $(STANDIN) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check

unit:
	@if command -v cargo-nextest >/dev/null; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  echo "cargo-nextest not found: running tests one at a time"; \
	  $(CARGO) test --workspace --no-fail-fast -- --test-threads=1; \
	fi

# Dockerfiles (hadolint), compose files (docker-compose), Kubernetes manifests (kustomize +
# kubernetes-validate): real tools, offline.
deploy-check:
	@scripts/check-deploy.sh

test: setup-test sdk lint typecheck deploy-check unit

## Benchmarks -------------------------------------------------------------------------------

bench: bench-tokens bench-http bench-recorder bench-cluster

bench-tokens:
	$(CARGO) bench -p agora-token --bench build
	$(CARGO) bench -p api-gateway --bench id_token

bench-http: setup-bench
	@bench/http.sh

bench-recorder: setup-bench sdk
	@bench/recorder.sh

# Cluster mode on the test harness (Firestore emulator, three recorders, two gateways).
bench-cluster: setup-test sdk
	$(CARGO) bench -p recorder-svc --bench cluster
	$(CARGO) bench -p recorder-svc --bench webhooks
	$(CARGO) bench -p recorder-svc --bench continuity
