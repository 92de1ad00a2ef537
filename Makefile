# The two commands: `make run` starts the platform, `make test` passes the tests.
# Nothing else is needed by hand: both create the virtualenv and install into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEPS_HASH := $(shell md5sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.run-$(DEPS_HASH)
DEV_STAMP := $(VENV)/.dev-$(DEPS_HASH)
PROTO_STAMP := protos/generated/.stamp

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/platform
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint bench services clean protos

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	rm -f $(VENV)/.run-*; touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.run-*; touch $@ $(RUN_STAMP)

# Python stubs for the Yellowstone protos (git-ignored); regenerated when a .proto changes.
$(PROTO_STAMP): protos/geyser.proto protos/solana-storage.proto protos/build.py | $(RUN_STAMP)
	@PY=$(PY) bash scripts/build-protos.sh
	@touch $@

protos: $(PROTO_STAMP)

run: $(RUN_STAMP) protos
	@$(PY) manage.py runplatform

services:
	@bash scripts/ensure-services.sh

test: $(DEV_STAMP) protos services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

# wrk is the load generator when it can be installed; else bench/loadgen.py stands in.
bench: $(DEV_STAMP) protos
	@command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || true)
	$(PY) bench/http_baseline.py
	$(PY) bench/asgi_servers.py
	$(PY) bench/localnet.py
	$(PY) bench/read_api.py
	$(PY) bench/monitor.py
	$(PY) bench/realtime.py
	$(PY) bench/execution.py

clean:
	rm -rf $(VENV) var
