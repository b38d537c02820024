# Two commands for a newcomer: `make run` (the service) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The dataset `make run` imports when present (or set CIFAR_ARCHIVE).
CIFAR_ARCHIVE ?= data/cifar-10-python.tar.gz
# Test data: the reduced CIFAR-10 archive; copied into data/ from MINI_ARCHIVE.
MINI_ARCHIVE ?= ../shared/datasets/cifar-10-mini/cifar-10-python.tar.gz
TEST_ARCHIVE := data/cifar-10-mini/cifar-10-python.tar.gz
# The job tests run a second time against this PostgreSQL server (CI always does).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export TEST_REDIS_URL

# Debug mode for the loopback default; on another HOST run_service.py refuses it and
# says what to set instead (DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=...).
export DJANGO_DEBUG ?= true
export CIFAR_ARCHIVE

.PHONY: run test lint audit faults soak test-data redis migrate multihost loadtest import train evaluate bench clean

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

## run: set up, migrate, then start everything under honcho (scripts/run_service.py):
## Redis if none answers, web (gunicorn), inference and training workers, beat; the
## beat entry first imports the dataset if present and queues a first training job.
run: migrate
	@mkdir -p data
	$(BIN)/python scripts/run_service.py --bind $(HOST):$(PORT)

$(TEST_ARCHIVE):
	@test -f "$(MINI_ARCHIVE)" || { echo "Test data missing: set MINI_ARCHIVE to the cifar-10-mini archive"; exit 1; }
	mkdir -p $(dir $(TEST_ARCHIVE))
	cp "$(MINI_ARCHIVE)" $(TEST_ARCHIVE)

test-data: $(TEST_ARCHIVE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/nbstripout --verify notebook/*.ipynb
	$(BIN)/python manage.py makemigrations --check --dry-run

## audit: known vulnerabilities in the pinned requirements (pip-audit, PyPI's data)
audit: $(STAMP)
	@report=$$(mktemp); \
	$(BIN)/pip-audit --requirement requirements.txt --progress-spinner off --desc on >$$report 2>&1; \
	status=$$?; grep -v -e "could not be audited" -e "^WARNING: Location" $$report; \
	skipped=$$(grep -c "could not be audited" $$report); rm -f $$report; \
	if [ "$$skipped" -gt 0 ]; then echo "!! pip-audit: $$skipped packages could not be audited (no vulnerability data for their versions)"; fi; \
	exit $$status

## faults: the fault suite alone (also part of `make test`)
faults: test-data redis
	$(BIN)/python -m pytest -m faults tests/faults

## soak: mixed traffic against a private deployment with a retrain in the middle
soak: test-data
	$(BIN)/python bench/soak.py

## redis: start a local Redis (no persistence) unless one answers already
redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

# Not run again on PostgreSQL (about 2.5 minutes): the schema contract (fuzzing and the
# generated client) and the worker topology do not depend on the database.
NOT_DATABASE_TESTS := --deselect tests/api/test_schema_fuzz.py --deselect tests/api/test_generated_client.py --deselect tests/predictions/test_interactive_priority.py

## test: lint, the whole suite on SQLite, then the database tests on PostgreSQL
test: lint audit test-data redis
	$(BIN)/python -m pytest
	@# A real login, not pg_isready: Debian's own clusters answer but want a password over TCP.
	@if [ -n "$$CI" ] || $(BIN)/python -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' "$(TEST_POSTGRES_URL)" 2>/dev/null; then \
		echo "== again on PostgreSQL: tests/jobs tests/training tests/predictions tests/api =="; \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m pytest tests/jobs tests/training tests/predictions tests/api $(NOT_DATABASE_TESTS); \
	else echo "!! PostgreSQL at $(TEST_POSTGRES_URL) refused the connection or the login: skipped its run (CI runs it; see docs/development.md)"; fi

## multihost: two inference workers in network namespaces of their own share one batch
## job over veth links to a private Redis and PostgreSQL (needs root; CI runs it)
multihost: $(STAMP) test-data
	$(BIN)/python scripts/multihost_check.py

## loadtest: the Locust scenarios x 1, 2, 3 inference processes on a private stack;
## CSVs in locust/results/, the summary table into docs/load-tests.md (about 14 minutes)
loadtest: $(STAMP) test-data
	$(BIN)/python locust/loadtest.py --write-docs $(LOADTEST_ARGS)

import: migrate
	$(BIN)/python manage.py import_cifar "$(CIFAR_ARCHIVE)"

train: migrate
	$(BIN)/python manage.py train_model --promote

evaluate: $(STAMP)
	$(BIN)/python manage.py evaluate_model

bench: $(STAMP)
	$(BIN)/python bench/predictor_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
