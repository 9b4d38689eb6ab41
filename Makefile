# socialmetrics — two commands:
#   make run    set up (venv, packages, database, demo data, admin user) and serve on http://127.0.0.1:8000
#   make test   set up and run the whole test suite (again on PostgreSQL + Redis when asked for)
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/15

# The newest Python 3.12+ on this machine (Django 6.1 needs 3.12 or newer).
define FIND_PYTHON
for c in python3.14 python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 \
    /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9] 2>/dev/null | sort -rV) python3; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
    command -v $$c; exit 0; fi; \
done; exit 1
endef
export FIND_PYTHON

.PHONY: help run serve test test-embedded test-services lint migrations-check setup clean browser

help:
	@echo "make run    set up and serve the app with demo data on http://$(HOST):$(PORT)"
	@echo "make test   set up and run the test suite (TEST_SERVICES=1 also runs it on PostgreSQL + Redis)"
	@echo "make serve  production settings on PostgreSQL + Redis: gunicorn, a Celery worker and beat"

$(VENV)/.python-ok:
	@py=$$(bash -c "$$FIND_PYTHON") || { \
	  echo "socialmetrics needs Python 3.12 or newer (Django 6.1); none was found." >&2; \
	  echo "Install python3.13 or python3.12 and run make again." >&2; exit 1; }; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "Recreating $(VENV): it was made with a Python older than 3.12."; rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$py ($$($$py --version))"; $$py -m venv $(VENV); fi
	@touch $@

# Every package, transitive ones included, is pinned with its hashes in requirements/*.txt (compiled
# from the .in files by `make lock`); pip refuses anything whose hash differs. --no-deps: the lock is
# the whole set, resolved once by `make lock` (with requirements/overrides.txt), not again here.
$(VENV)/.installed-dev: $(VENV)/.python-ok requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/dev.txt
	@touch $@

# Recompile the locked requirements after changing a pin in requirements/*.in (needs the registry).
# One file for Python 3.12 and newer on any platform (uv's universal resolution, hashes of every wheel).
.PHONY: lock
lock: setup
	@for f in base dev prod; do \
	  $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.12 --generate-hashes \
	    --no-strip-markers --override requirements/overrides.txt --custom-compile-command "make lock" \
	    requirements/$$f.in -o requirements/$$f.txt; \
	done
	@echo "requirements/base.txt, dev.txt and prod.txt recompiled; make setup installs them."

setup: $(VENV)/.installed-dev

# The pages' JavaScript packages (Chart.js), exactly as package-lock.json pins them; Django's
# staticfiles serves them from node_modules (whitenoise), so the pages need no CDN.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "The pages need Chart.js from npm: install Node.js 18+ and npm, then run make again." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Headless Chromium for the browser tests (tests/e2e), installed with apt where it is missing and the
# machine allows it (root); otherwise those tests are skipped with the reason (they fail in CI).
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium for the browser tests (apt-get install chromium chromium-driver)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y chromium chromium-driver || { apt-get update && apt-get install -y chromium chromium-driver; } \
	    || echo "Chromium could not be installed; the browser tests will say why." >&2; \
	else echo "No Chromium here and no root to install it: the browser tests will be skipped."; fi

run: setup node_modules/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo
	$(PY) manage.py ensure_admin
	@echo "socialmetrics is at http://$(HOST):$(PORT)/ (admin: http://$(HOST):$(PORT)/admin/)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# Production-like serving on one machine, no containers: the production settings on PostgreSQL +
# Redis, gunicorn (gunicorn.conf.py), a Celery worker and Celery beat (Procfile, run by honcho).
# SERVE_DATABASE_URL / SERVE_REDIS_URL (or DATABASE_URL / REDIS_URL) name the services; the database
# is created when missing. SECRET_KEY is generated once into .env.serve (kept out of git) unless set.
SERVE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/socialmetrics
SERVE_REDIS_URL ?= redis://127.0.0.1:6379/0
serve: setup node_modules/.installed
	@set -a; [ -f .env.serve ] || echo "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env.serve; \
	. ./.env.serve; set +a; \
	export DJANGO_SETTINGS_MODULE=socialmetrics.settings.prod SECURE_SSL_REDIRECT=false \
	  ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" GUNICORN_BIND="$(HOST):$(PORT)" \
	  DATABASE_URL="$${DATABASE_URL:-$(SERVE_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(SERVE_REDIS_URL)}"; \
	export CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$$REDIS_URL}"; \
	$(PY) manage.py check --database default >/dev/null 2>&1 || { \
	  db=$${DATABASE_URL##*/}; echo "Creating the database $$db"; \
	  $(PY) -c "import os, psycopg; from urllib.parse import urlsplit; u = urlsplit(os.environ['DATABASE_URL']); \
	    c = psycopg.connect(os.environ['DATABASE_URL'].rsplit('/', 1)[0] + '/postgres', autocommit=True); \
	    c.execute('CREATE DATABASE \"%s\"' % u.path.lstrip('/'))" || exit 1; }; \
	$(PY) manage.py migrate --noinput && $(PY) manage.py collectstatic --noinput -v0 && \
	$(PY) manage.py ensure_admin && \
	echo "socialmetrics (production settings) is at http://$(HOST):$(PORT)/ with a Celery worker and beat; Ctrl-C stops all three" && \
	exec $(VENV)/bin/honcho start -f Procfile

# The suite on the embedded default (SQLite + local memory), then, when DATABASE_URL / REDIS_URL are
# set or TEST_SERVICES=1, again against real PostgreSQL + Redis (where service tests must pass).
test: setup node_modules/.installed browser
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -m "not services" $(PYTEST_ARGS)
	@if [ -n "$$DATABASE_URL$$REDIS_URL" ] || [ "$$TEST_SERVICES" = "1" ]; then \
	  echo "--- the suite again on PostgreSQL + Redis ---"; \
	  DATABASE_URL="$${DATABASE_URL:-$(SERVICES_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(SERVICES_REDIS_URL)}" \
	  TEST_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS); \
	fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

migrations-check: setup
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# Benchmarks (bench/README.md), never part of `make test`: on DATABASE_URL / REDIS_URL when set, else
# on the benchmark database and Redis database 3. BENCH_ARGS passes options, e.g.
# BENCH_ARGS="--only endpoints,http --duration 5" or BENCH_ARGS="--generate" (rewrites the data set).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/socialmetrics_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/3
.PHONY: bench bench-serving loadgen
bench: setup loadgen
	DATABASE_URL="$${DATABASE_URL:-$(BENCH_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(BENCH_REDIS_URL)}" \
	  $(PY) bench/run.py $(BENCH_ARGS)

# gunicorn's workers x threads candidates side by side on the same data set (bench/serving.py): the
# measurement behind gunicorn.conf.py's default. SERVING_ARGS passes options, e.g. "--rounds 5".
bench-serving: setup loadgen
	DATABASE_URL="$${DATABASE_URL:-$(BENCH_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(BENCH_REDIS_URL)}" \
	  $(PY) bench/serving.py $(SERVING_ARGS)

# 60 s of mixed load (readers, a collection run, uploads, admin edits) against gunicorn on PostgreSQL +
# Redis: fails on any 5xx or stale read (bench/load.py; its 10 s form runs in the suite). It rewrites
# the benchmark accounts of its database, so it uses one of its own (created when missing).
LOAD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/socialmetrics_load
LOAD_REDIS_URL ?= redis://127.0.0.1:6379/4
.PHONY: load
load: setup
	@$(PY) -c "import psycopg; c = psycopg.connect('$(LOAD_DATABASE_URL)'.rsplit('/', 1)[0] + '/postgres', autocommit=True); \
	  name = '$(LOAD_DATABASE_URL)'.rsplit('/', 1)[1]; \
	  c.execute('SELECT 1 FROM pg_database WHERE datname = %s', [name]).fetchone() or c.execute(f'CREATE DATABASE \"{name}\"')"
	DATABASE_URL=$(LOAD_DATABASE_URL) REDIS_URL=$(LOAD_REDIS_URL) $(PY) bench/load.py --duration 60 $(LOAD_ARGS)

# wrk, the HTTP load generator the benchmark's figures are measured with, from Debian's package
# where it is missing and the machine allows it. Without it the benchmark falls back to its own
# asyncio client, which shares the CPU with the server and under-reports large responses.
loadgen:
	@if command -v wrk >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing wrk for the benchmark's HTTP figures (apt-get install wrk)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; } \
	    || echo "wrk could not be installed; the benchmark will use its own client." >&2; \
	else echo "No wrk here and no root to install it: the benchmark will use its own client."; fi
