# geo_platform developer and CI entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/geo-platform
LINT_PATHS := geo_platform geo_platform_tests bench scripts
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= $(or $(GEO_PLATFORM_UI_PORT),3000)

.PHONY: help install services-up services-down services-status demo test test-quick lint format \
	typecheck bench dev clean-state

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: ## system packages, .venv and Azurite (idempotent, fast when done)
	bash scripts/install.sh

services-up: install ## start PostgreSQL/PostGIS/pgstac and Azurite, prepare DAGSTER_HOME
	$(CLI) services up

services-down: ## stop the local services
	$(CLI) services down

services-status: ## show what runs where (no secrets)
	$(CLI) services status

demo: install services-up ## ingest the sample data end to end
	$(CLI) demo

test: export GEO_PLATFORM_PG_FAST = 1
test: install services-up lint typecheck ## everything CI runs: lint, types, the whole test suite
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-quick: export GEO_PLATFORM_PG_FAST = 1
test-quick: ## tests without the slow end-to-end ones
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

lint: ## ruff check and format check
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

format: ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)

typecheck: ## mypy on the library, the I/O adapters and the workflows
	$(VENV)/bin/mypy geo_platform/lib geo_platform/store geo_platform/workflows

bench: install services-up ## run every benchmark in bench/ (prints ratios against reference tools)
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) "$$script"; done

dev: services-up ## Dagster UI and daemon on http://$(HOST):$(PORT)
	eval "$$(scripts/env.sh)" && exec $(VENV)/bin/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

clean-state: ## stop services and delete .state/ (databases, blobs, Dagster history)
	-$(CLI) services down
	rm -rf .state
