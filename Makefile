# Parley — the two commands: `make run` and `make test`. Everything else is optional.
# Needs only Python 3.11+ and make: uv is installed into .tools/, the environment into .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_RUN := $(UV) run --frozen

.PHONY: run test setup test-unit test-integration test-e2e test-containers asyncapi lint clean-state help

help:
	@echo "make run              start the whole platform (embedded Postgres, Valkey, Kafka-protocol broker, every service)"
	@echo "make test             run every test tier against real servers"
	@echo "make test-unit        unit tier only (no servers)"
	@echo "make test-integration integration tier (real Postgres / Valkey / broker)"
	@echo "make test-e2e         end-to-end tier (every service as a process, HTTP only)"
	@echo "make test-containers  integration tier against Apache Kafka, PostgreSQL and Redis images (needs Docker)"
	@echo "make asyncapi         regenerate docs/asyncapi.yaml from the contracts"
	@echo "make clean-state      delete the development state directory (.state/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode

run: setup
	$(UV_RUN) python -m parley.devstack run

test: setup
	$(UV_RUN) ruff check libs services tools tests bench
	$(UV_RUN) pytest

test-unit: setup
	$(UV_RUN) pytest tests/unit

test-integration: setup
	$(UV_RUN) pytest tests/integration

test-e2e: setup
	$(UV_RUN) pytest tests/e2e

test-containers: setup
	PARLEY_TEST_CONTAINERS=1 $(UV_RUN) pytest tests/integration

asyncapi: setup
	$(UV_RUN) python -m parley.contracts.asyncapi --write

lint: setup
	$(UV_RUN) ruff check libs services tools tests bench

clean-state:
	rm -rf .state
