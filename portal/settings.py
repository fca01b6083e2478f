"""Atrium settings: everything from the environment, with embedded defaults
that need no server (SQLite, Celery's filesystem broker, MLflow on SQLite)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

from portal.generated import generated_secret, new_fernet_key, new_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment wins

VAR_DIR = Path(env("ATRIUM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# Given by the environment, or made once into var/ (0600) and kept there.
SECRET_KEY = env("SECRET_KEY", default="") or generated_secret(VAR_DIR / "secret_key", new_secret_key)
# The portal's public address, for links in e-mails.
PORTAL_URL = env("PORTAL_URL", default="http://127.0.0.1:8000")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "axes",
    "apps.core",
    "apps.accounts",
    "apps.runs",
    "apps.connections",
    "apps.catalog",
    "apps.registry",
    "apps.deployments",
    "apps.approvals",
    "apps.gateway",
    "apps.monitoring",
    "apps.costs",
    "apps.notifications",
    "apps.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout answer
]

ROOT_URLCONF = "portal.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.navigation",
                "apps.notifications.context_processors.notifications",
            ],
        },
    },
]
WSGI_APPLICATION = "portal.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'atrium.sqlite3'}")}
# Where connections are kept (``?conn_max_age=60`` in DATABASE_URL), one the server dropped is
# replaced at the next request, not failed on. (Celery closes its connections around every task.)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Kept for a minute unless the URL says otherwise: a new connection per request costs PostgreSQL
    # a process and the web worker a handshake, more than a cached page's queries (bench/costs.py).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("ATRIUM_DB_CONN_MAX_AGE", default=60))
    # No JIT compilation: the portal's aggregates over the cost rollups take well under a second,
    # and compiling them took longer than running them (880 ms of JIT for a 360 ms query).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so a real Celery worker in the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-atrium.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "apps.accounts.lockout.LoginAttemptsBackend",  # django-axes: refuses locked-out account+address pairs
    "django.contrib.auth.backends.ModelBackend",
]
# Checked wherever a person sets a password (admin, password change); the demo
# users' password is set directly by seed_demo.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
# plotly.js ships inside the plotly package; served from here, never a CDN: its one
# file is collected (hashed and compressed like the others) by apps.core.staticfinders.
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.core.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# HTTPS: on when the portal's public address is https (then secure cookies, a redirect to
# https and HSTS by default; each can be set on its own). Plain http on 127.0.0.1
# (`make run`) keeps them off, so logging in works there.
HTTPS = env.bool("HTTPS", default=PORTAL_URL.startswith("https://"))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts only from the portal's own static files
# (never inline: static/js). Styles may be inline: plotly.js and htmx add style elements.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if env.bool("TRUST_PROXY_SSL_HEADER", default=False):  # behind a TLS-terminating proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True

# How many reverse proxies of ours stand in front (they append to X-Forwarded-For);
# 0: the header is the client's word and is ignored (throttles, lockouts use REMOTE_ADDR).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# --- Login throttling (django-axes): /login/, /admin/login/ and the API token endpoint ------
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # per account + address
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.net.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.lockout_response"
AXES_VERBOSE = False

# Fernet keys for cloud credentials at rest (first encrypts, all decrypt); made once into var/ if not given.
ENCRYPTION_KEYS = env.list("ATRIUM_ENCRYPTION_KEYS", default=[]) or [
    generated_secret(VAR_DIR / "encryption_key", new_fernet_key)
]

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="atrium@localhost")
# Webhook URLs (drift monitors, cost budgets) are typed by users, and the worker POSTs to them
# from inside the portal's network: off, a URL whose host is or resolves to a loopback, private,
# link-local (cloud metadata, 169.254.169.254) or other non-public address is refused when saved
# and again when sent (apps/notifications/destinations.py). On only where receivers are local
# on purpose (`make run`'s demo receiver), as GitLab's "Allow requests to the local network".
WEBHOOKS_ALLOW_LOCAL_NETWORK = env.bool("ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK", default=False)

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CappedLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    # Token endpoint: per client address, and per account across addresses.
    "DEFAULT_THROTTLE_RATES": {
        "login": env("LOGIN_RATE", default="30/min"),
        "login_account": env("LOGIN_ACCOUNT_RATE", default="60/hour"),
    },
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Atrium API",
    "DESCRIPTION": "Self-hosted ML platform portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # One name per choice list: a run's kind and a step's action are both RunKind.
    "ENUM_NAME_OVERRIDES": {
        "RunKindEnum": "apps.runs.models.RunKind",
        "MonitorStatusEnum": "apps.monitoring.models.MonitorStatus",
        "DriftReportStatusEnum": "apps.monitoring.models.ReportStatus",
        "AlertRuleEnum": "apps.monitoring.models.AlertRule",
    },
}

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "celery" / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
REDIS_URL = env("REDIS_URL", default="")
CELERY_TASK_IGNORE_RESULT = True  # the UI reads the Run row, never a result backend
CELERY_TASK_ACKS_LATE = True
# A worker waits for its broker however long it is away (Celery's default gives up after 100
# tries, and the worker exits for good), at start-up as after losing it mid-run.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("ATRIUM_QUEUE", default="atrium")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
RUN_POLL_SECONDS = env.float("ATRIUM_POLL_SECONDS", default=2.0)
# A run whose worker died mid-submit is submitted again after this; a worker's hold on a run lasts at most this.
RUN_SUBMIT_WATCHDOG_SECONDS = env.float("ATRIUM_SUBMIT_WATCHDOG_SECONDS", default=120.0)
RUN_POLL_LEASE_SECONDS = env.float("ATRIUM_POLL_LEASE_SECONDS", default=60.0)
# First wait before retrying a transient backend error; doubles each time, at most 300 s.
RUN_RETRY_BASE_SECONDS = env.float("ATRIUM_RETRY_SECONDS", default=2.0)
RUN_RETRY_MAX_SECONDS = env.float("ATRIUM_RETRY_MAX_SECONDS", default=300.0)
# Tries at submitting a step (transient errors, a worker dying mid-submit) before it fails.
RUN_MAX_ATTEMPTS = env.int("ATRIUM_RUN_MAX_ATTEMPTS", default=6)
CELERY_BEAT_SCHEDULE = {
    "poll-due-runs": {"task": "apps.runs.tasks.poll_due_runs", "schedule": RUN_POLL_SECONDS},
    # Models (apps/registry): re-read changed models, everything now and then (runs link their versions at once).
    "registry-sync": {
        "task": "apps.registry.tasks.sync_registries",
        "schedule": env.float("ATRIUM_REGISTRY_SYNC_SECONDS", default=60.0),
    },
    "registry-sync-full": {"task": "apps.registry.tasks.sync_registries", "schedule": 900.0, "kwargs": {"full": True}},
    # Endpoints (apps/deployments): those made outside the portal found, changed ones re-read, gone ones marked.
    "endpoints-sync": {
        "task": "apps.deployments.tasks.sync_endpoints",
        "schedule": env.float("ATRIUM_ENDPOINT_SYNC_SECONDS", default=60.0),
    },
    "endpoints-sync-full": {
        "task": "apps.deployments.tasks.sync_endpoints",
        "schedule": 900.0,
        "kwargs": {"full": True},
    },
    # Promotions (apps/approvals): expire, remind a day before, resume an approval a dead worker left.
    "promotions-sweep": {"task": "apps.approvals.tasks.sweep_promotions", "schedule": 60.0},
    # Cloud capture (apps/gateway/cloud_capture.py): SageMaker Data Capture and Databricks inference
    # tables read into the gateway's capture store.
    "cloud-capture": {
        "task": "apps.gateway.tasks.pull_cloud_capture",
        "schedule": env.float("GATEWAY_CLOUD_CAPTURE_SECONDS", default=300.0),
    },
    # Costs (apps/costs): every source's bill for the days not yet final, then budget alerts.
    "costs-daily": {
        "task": "apps.costs.tasks.ingest_costs_daily",
        "schedule": env.float("ATRIUM_COSTS_INGEST_SECONDS", default=86400.0),
    },
    # ...and each manager's and admin's default Costs page computed before its cached copy
    # (5 minutes) runs out, so opening Costs never waits for the aggregates.
    "costs-dashboards-warm": {
        "task": "apps.costs.tasks.warm_dashboards",
        "schedule": env.float("ATRIUM_COSTS_WARM_SECONDS", default=240.0),
    },
    # Drift monitors (apps/monitoring): each monitor's window when it is due (hourly or daily).
    "monitors-evaluate": {
        "task": "apps.monitoring.tasks.evaluate_due_monitors",
        "schedule": env.float("ATRIUM_MONITOR_BEAT_SECONDS", default=60.0),
    },
}
# Days back the daily cost read looks (days already final are not asked for again), and how far
# back a source never read before is read; a worker that starts reads what is missing at once.
COSTS_LOOKBACK_DAYS = env.int("ATRIUM_COSTS_LOOKBACK_DAYS", default=7)
COSTS_FIRST_READ_DAYS = env.int("ATRIUM_COSTS_FIRST_READ_DAYS", default=90)
COSTS_READ_AT_START = env.bool("ATRIUM_COSTS_READ_AT_START", default=False)

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- MLflow and the local backend ---------------------------------------------------
MLFLOW_DIR = VAR_DIR / "mlflow"
# MLflow registry webhooks (apps/registry/webhooks.py): off unless a secret is set.
MLFLOW_WEBHOOK_SECRET = env("ATRIUM_MLFLOW_WEBHOOK_SECRET", default="")
# Where MLflow reaches the portal; defaults to PORTAL_URL + /models/hooks/mlflow/.
MLFLOW_WEBHOOK_URL = env("ATRIUM_MLFLOW_WEBHOOK_URL", default="")
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default="http://127.0.0.1:5000")
# Where people browse MLflow; defaults to the tracking server when it is one.
MLFLOW_UI_URL = env("MLFLOW_UI_URL", default=MLFLOW_TRACKING_URI if MLFLOW_TRACKING_URI.startswith("http") else "")
LOCAL_JOBS_DIR = Path(env("ATRIUM_LOCAL_JOBS_DIR", default=str(VAR_DIR / "jobs")))
# Local jobs (training, search, batch) running at a time; the others wait their turn, fair across teams.
LOCAL_MAX_JOBS = env.int("ATRIUM_LOCAL_MAX_JOBS", default=os.cpu_count() or 1)
# What an hour of this machine costs (training, model servers), for Costs; 0: local compute is free.
LOCAL_CPU_HOUR_RATE = env.float("ATRIUM_LOCAL_CPU_HOUR_RATE", default=0.0)
LOCAL_GPU_HOUR_RATE = env.float("ATRIUM_LOCAL_GPU_HOUR_RATE", default=0.0)
# CSV/Parquet training data must live below this folder (users cannot point
# the portal at arbitrary files on the worker).
DATA_ROOT = Path(env("ATRIUM_DATA_ROOT", default=str(VAR_DIR / "data")))

# --- the inference gateway (apps/gateway, served by bin/gateway) ----------------------------
GATEWAY_PORT = env.int("GATEWAY_PORT", default=8001)
# Where clients reach the gateway (shown on endpoint pages): behind a proxy, its public address.
GATEWAY_URL = env("GATEWAY_URL", default=f"http://127.0.0.1:{GATEWAY_PORT}")
# How long a gateway process trusts what it read of keys and routes: a revoked key is refused,
# a traffic shift applied, within this many seconds.
GATEWAY_CACHE_SECONDS = env.float("GATEWAY_CACHE_SECONDS", default=2.0)
GATEWAY_FLUSH_SECONDS = env.float("GATEWAY_FLUSH_SECONDS", default=2.0)  # telemetry rollups written this often
# Captured rows: a folder, or an S3 prefix (s3://bucket/prefix) written with boto3's own credentials
# (environment, profile, instance role); the endpoint URL sends them elsewhere (a stand-in, MinIO).
GATEWAY_CAPTURE_ROOT = env("GATEWAY_CAPTURE_ROOT", default=str(VAR_DIR / "capture"))
GATEWAY_CAPTURE_S3_ENDPOINT_URL = env("GATEWAY_CAPTURE_S3_ENDPOINT_URL", default="") or None
GATEWAY_CAPTURE_S3_REGION = env("GATEWAY_CAPTURE_S3_REGION", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
GATEWAY_CAPTURE_SAMPLE = env.float("GATEWAY_CAPTURE_SAMPLE", default=1.0)  # share of requests captured
GATEWAY_CAPTURE_MAX_ROWS = env.int("GATEWAY_CAPTURE_MAX_ROWS", default=100_000)  # buffered rows; past it, dropped
GATEWAY_SENSITIVE_COLUMNS = env.list("GATEWAY_SENSITIVE_COLUMNS", default=[])  # masked in capture
# Cloud capture read into the same store: each pull reads again this far before where the last one
# stopped (the clouds land rows late: Databricks within the hour), an endpoint's first pull reads
# this many hours back, and one pull reads at most a window of this many hours (a backlog is read
# window after window).
GATEWAY_CLOUD_CAPTURE_OVERLAP_SECONDS = env.float("GATEWAY_CLOUD_CAPTURE_OVERLAP_SECONDS", default=3600.0)
GATEWAY_CLOUD_CAPTURE_BACKFILL_HOURS = env.float("GATEWAY_CLOUD_CAPTURE_BACKFILL_HOURS", default=24.0)
GATEWAY_CLOUD_CAPTURE_WINDOW_HOURS = env.float("GATEWAY_CLOUD_CAPTURE_WINDOW_HOURS", default=6.0)
GATEWAY_CLOUD_CAPTURE_LEASE_SECONDS = env.float("GATEWAY_CLOUD_CAPTURE_LEASE_SECONDS", default=900.0)
GATEWAY_UPSTREAM_TIMEOUT = env.float("GATEWAY_UPSTREAM_TIMEOUT", default=60.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
