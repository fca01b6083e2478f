# Two commands for a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
MLFLOW_PORT ?= 5000
DEMO_PASSWORD ?= atrium-demo

# Production mode (gunicorn, DEBUG off) unless DEBUG=1 (`DEBUG=1 make run`, or in .env): then
# Django's development server (bin/web).
# The web port travels as WEB_PORT (bin/web), so no process mistakes it for its own.
export WEB_PORT := $(PORT)
export MLFLOW_PORT DEMO_PASSWORD
# The cloud stand-ins (apps/backends/sandbox) behind the two sandbox connections.
export AWS_SANDBOX_PORT ?= 5001
export DATABRICKS_SANDBOX_PORT ?= 5002
export DATABRICKS_SANDBOX_TOKEN ?= dapi-sandbox
export MLFLOW_TRACKING_URI ?= http://127.0.0.1:$(MLFLOW_PORT)
export PORTAL_URL ?= http://127.0.0.1:$(PORT)
# MLflow calls the portal on registry changes (apps/registry/webhooks.py), over
# http on this machine; the secrets are made once into var/mlflow/webhook.env.
export MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS ?= true
export MLFLOW_WEBHOOK_ALLOWED_SCHEMES ?= http,https
# Atrium's own webhooks (drift monitors, budgets) may go to this machine under `make run`
# only: the demo's receiver (manage.py demo_drift) is local. Elsewhere, `make test` included,
# the production default holds: not to the local network (README: Configuration).
run: export ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK ?= true
WEBHOOK_ENV := var/mlflow/webhook.env

# Three test processes on two cores: the tests mostly wait on jobs, servers and a browser (CPU ~145% busy). `PYTEST_ARGS=` for one.
PYTEST_ARGS ?= -n 3

.PHONY: run test install install-dev lint

$(VENV)/.runtime: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# `make run` only: its worker reads the missing bills (the sandboxes' 90 days of SANDBOX billing) as it starts.
run: export ATRIUM_COSTS_READ_AT_START ?= 1

# make run prices this machine's hours at demo rates, so Costs shows local spend (README: Configuration).
run: export ATRIUM_LOCAL_CPU_HOUR_RATE ?= 0.10
run: export ATRIUM_LOCAL_GPU_HOUR_RATE ?= 2.50
# ...and reads bills hourly, not daily, so today's local spend shows within the hour.
run: export ATRIUM_COSTS_INGEST_SECONDS ?= 3600

## Install, migrate, create demo data, collect static files, then run web, worker, beat, MLflow and the
## stand-ins under a supervisor in the foreground: a process that dies is restarted; Ctrl-C stops all.
run: install
	mkdir -p var/mlflow/artifacts var/sandbox
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_environments
	$(PY) manage.py seed_sandbox_connections
	$(PY) manage.py seed_demo_budget
	$(PY) manage.py load_catalog
	@test -s $(WEBHOOK_ENV) || $(PY) -c "import secrets; from cryptography.fernet import Fernet; \
	  print('ATRIUM_MLFLOW_WEBHOOK_SECRET=' + secrets.token_urlsafe(32)); \
	  print('MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=' + Fernet.generate_key().decode())" > $(WEBHOOK_ENV)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Atrium on http://127.0.0.1:$(PORT)  ·  MLflow on $(MLFLOW_TRACKING_URI)"
	$(PY) -m portal.supervise -f Procfile -e .env,$(WEBHOOK_ENV)

## The test suite (SQLite and the filesystem broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise).
test: install-dev
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
