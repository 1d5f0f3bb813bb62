# Memharbor: the one entry point. `make run` and `make test` do all set-up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help run test fmt lint unit bench bench-tokens bench-http setup-run setup-test setup-bench env

help:
	@echo "make run     set up, build and start the gateway (:8001) and the recorder (:3100)"
	@echo "make test    set up, then fmt check, clippy and every test"
	@echo "make bench   token build time (criterion) and HTTP throughput vs the baselines (wrk)"
	@echo "make fmt | make lint"

## Set-up ------------------------------------------------------------------------------------

setup-run:
	@scripts/setup-system.sh run

setup-test:
	@scripts/setup-system.sh test

setup-bench:
	@scripts/setup-system.sh bench

# A local .env with working placeholder credentials, made once from .env.example.
.env:
	@cp .env.example .env
	@echo "created .env from .env.example (placeholder Agora credentials; edit it for a real project)"

env: .env

## Run --------------------------------------------------------------------------------------

run: setup-run .env
	@scripts/run.sh

## Checks -----------------------------------------------------------------------------------

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	@if command -v cargo-nextest >/dev/null; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

test: setup-test lint unit

## Benchmarks -------------------------------------------------------------------------------

bench: bench-tokens bench-http

bench-tokens:
	$(CARGO) bench -p agora-token --bench build

bench-http: setup-bench
	@bench/http.sh
