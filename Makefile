# Propfee: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
# pytest workers of make test (pytest-xdist): the suite waits on processes, brokers and timeouts
# more than it computes, so two workers on two cores finish it in about two thirds of the time.
TEST_WORKERS ?= 2
export UV_LINK_MODE ?= copy

.PHONY: help sync demo up down status logs test unit lint fmt typecheck contracts contracts-check \
	openapi openapi-check client console chaos bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

sync: ## install Python, the locked dependencies (uv workspace) and the Debian packages PDFs and the browser tests need
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
	bash deploy/local/os-packages.sh
	$(UV) sync --frozen

chaos: sync ## the fault suite on its own PostgreSQL and 3-broker Kafka: kills, restarts, link cuts; report in chaos-report/ (ARGS="--plan reduced")
	$(UV) run --frozen python -m chaos $(ARGS)

bench: sync ## every benchmark beside its same-run ceilings (COPY, raw produce/consume, bare endpoint): bench/results.md (ARGS="--smoke", "--only billing_run", "--list")
	bash deploy/local/infra.sh up
	$(UV) run --frozen python -m bench $(ARGS)

demo: sync console ## the main job: a year of a 1,236-household community through all four services (ARGS="--seed 7 --households 1236 --months 12")
	bash deploy/local/infra.sh up
	$(UV) run --frozen python -m demo $(ARGS)

up: sync console ## start Kafka, PostgreSQL, the four services and the console (http://127.0.0.1:8100) in the background
	bash deploy/local/infra.sh up
	$(UV) run --frozen python -m propfee.admin topics
	$(UV) run --frozen python -m propfee.auth keygen  # dev issuer: .local/auth (once)
	bash deploy/local/services.sh up

down: ## stop the services and the infrastructure
	bash deploy/local/services.sh down
	bash deploy/local/infra.sh down

status: ## what runs where
	-bash deploy/local/infra.sh status
	-bash deploy/local/services.sh status

logs: ## follow the services' logs
	bash deploy/local/services.sh logs

test: sync lint typecheck contracts-check openapi-check client console ## lint, types, contracts, the TypeScript client, unit + integration + end-to-end tests
	bash deploy/local/infra.sh up
	$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadfile

unit: sync ## the fast tests only (no Kafka, no PostgreSQL)
	$(UV) run --frozen pytest -m "not integration"

lint: ## ruff lint and format check
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

fmt: ## format and fix what ruff can
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

typecheck: ## mypy (strict for the shared library and the domain modules)
	$(UV) run --frozen mypy

contracts: ## regenerate docs/events (JSON Schemas and AsyncAPI) from the event models
	$(UV) run --frozen python -m propfee.contracts write

contracts-check: ## fail when docs/events is stale
	$(UV) run --frozen python -m propfee.contracts check

openapi: ## regenerate docs/openapi (the four services' OpenAPI documents) from the apps
	$(UV) run --frozen python -m propfee.openapi write

openapi-check: ## fail when docs/openapi is stale
	$(UV) run --frozen python -m propfee.openapi check

CLIENT := web/client

# npm ci (the committed lock file) when node_modules is missing or older than the lock.
$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "make client needs Node.js 20+ and npm" >&2; exit 1; }
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error

client: $(CLIENT)/node_modules/.package-lock.json ## generate the TypeScript client from docs/openapi and type-check it (web/client)
	cd $(CLIENT) && npm run --silent generate && npm run --silent typecheck

CONSOLE := web/console
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src $(CONSOLE)/scripts -type f -not -path '*/generated/*' 2>/dev/null) \
	$(CONSOLE)/index.html $(CONSOLE)/vite.config.ts $(CONSOLE)/tsconfig.json $(wildcard docs/openapi/*.json) \
	$(CLIENT)/src/index.ts

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "make console needs Node.js 20+ and npm" >&2; exit 1; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error

# Built only when a source changed (the browser tests use web/console/dist as it is).
$(CONSOLE)/dist/index.html: $(CONSOLE)/node_modules/.package-lock.json $(CLIENT)/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd $(CLIENT) && npm run --silent generate
	cd $(CONSOLE) && npm run --silent build
	@touch $@

console: $(CONSOLE)/dist/index.html ## build the staff console (web/console: Vue 3 + Element Plus on web/client) into web/console/dist
