"""Django settings, read from the environment (django-environ); bad values fail at start."""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
# A parallel test run (pytest-xdist sets PYTEST_XDIST_WORKER=gw0, gw1 ... in each test process
# and so in the Celery workers they start) gives each process its own data folder: SQLite test
# database, filesystem broker, uploads and caches; and, below, its own Redis broker database.
_TEST_PROCESS: str = env.str("PYTEST_XDIST_WORKER", default="")
if _TEST_PROCESS:
    DATA_DIR = DATA_DIR / _TEST_PROCESS
UPLOAD_DIR = DATA_DIR / "uploads"
FLOW_CACHE_DIR = DATA_DIR / "flowcache"
WORK_DIR = DATA_DIR / "work"
for _folder in (DATA_DIR, UPLOAD_DIR, FLOW_CACHE_DIR, WORK_DIR, DATA_DIR / "staticfiles"):
    _folder.mkdir(parents=True, exist_ok=True)

# Management commands that serve nothing, sign nothing and open no secret (they read and write
# local files only) run in an empty environment: without SECRET_KEY they get a throwaway key.
# Everything else (runserver, gunicorn, celery, migrate ...) still refuses to start without one.
OFFLINE_COMMANDS = frozenset({"analyze", "generate_flowlogs"})


def _offline_command(argv: list[str]) -> bool:
    return (
        len(argv) > 1
        and Path(argv[0]).name in ("manage.py", "django-admin")
        and argv[1] in OFFLINE_COMMANDS
    )


_OFFLINE = _offline_command(sys.argv)
_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
SECRET_KEY: str = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY and _OFFLINE:
    SECRET_KEY = secrets.token_urlsafe(50)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("The development SECRET_KEY cannot be used when DEBUG is off.")
# Former keys, still accepted for signed values and sealed secrets while SECRET_KEY rotates.
SECRET_KEY_FALLBACKS: list[str] = env.list("SECRET_KEY_FALLBACKS", default=[])
# The audit chain's HMAC key (portal.audit_chain): AUDIT_KEY when set, else derived from
# SECRET_KEY. Former keys stay in AUDIT_KEY_FALLBACKS so the events they signed still verify.
AUDIT_KEY: str = env.str("AUDIT_KEY", default="")
AUDIT_KEY_FALLBACKS: list[str] = env.list("AUDIT_KEY_FALLBACKS", default=[])
# Signed checkpoints of the audit chain, appended by Celery beat, outside the database.
AUDIT_CHECKPOINT_FILE = Path(
    env.str("AUDIT_CHECKPOINT_FILE", default=str(DATA_DIR / "audit-checkpoints.jsonl"))
).resolve()
AUDIT_CHECKPOINT_SECONDS: int = env.int("AUDIT_CHECKPOINT_SECONDS", default=300)
if AUDIT_CHECKPOINT_SECONDS < 10:
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_SECONDS must be at least 10.")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS and not _OFFLINE:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "accounts",
    "investigations",
    "investigations.reports",
    "investigations.watches",
]

MIDDLEWARE = [
    # First: forwarded headers from a peer that is not a trusted proxy are dropped.
    "portal.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.LoginRequiredMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "portal.middleware.ApiAccessLogMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into a clear refusal.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Reverse proxies in front of the portal: a count ("1": every request comes through one proxy)
# or the CIDRs they connect from ("10.0.0.0/8,192.168.1.10"). Unset: clients connect directly,
# X-Forwarded-For and X-Forwarded-Proto are ignored (portal.clientaddr decides the address used
# for lockout and audit).
_TRUSTED_PROXIES = env.str("TRUSTED_PROXIES", default="").strip()
TRUSTED_PROXIES: int | list[str]
if _TRUSTED_PROXIES.isdigit():
    TRUSTED_PROXIES = int(_TRUSTED_PROXIES)
else:
    TRUSTED_PROXIES = [c.strip() for c in _TRUSTED_PROXIES.split(",") if c.strip()]
    for _cidr in TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(_cidr, strict=False)
        except ValueError as _exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_exc}") from _exc

# Repeated failed logins lock out a username: LOGIN_FAILURE_LIMIT failures from one address, or
# LOGIN_USERNAME_FAILURE_LIMIT from any number of addresses, for LOGIN_LOCKOUT_HOURS.
AXES_FAILURE_LIMIT: int = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_USERNAME_FAILURE_LIMIT: int = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME: float = env.float("LOGIN_LOCKOUT_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_HANDLER = "portal.lockout.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "portal.clientaddr.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.roles",
            ],
        },
    },
]

# Database: a SQLite file under DATA_DIR unless DATABASE_URL says otherwise (PostgreSQL in prod).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the worker process write side by side.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-portal.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "investigations:list"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "portal.staticfiles.CompressedStaticFiles"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Uploads: flow-log files can be large; Django streams anything over 2.5 MB to a temp file.
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
FLOWLOG_MAX_UPLOAD_BYTES: int = env.int("FLOWLOG_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# While a worker reads a gzip file (an upload or an S3 object), it stops past this many times
# the file's size inflated and records the file as not loaded. Flow logs inflate about 5x to
# 15x (NODATA-heavy ones most); gzip bombs up to about 1000x.
FLOWLOG_MAX_GZIP_RATIO: float = env.float("FLOWLOG_MAX_GZIP_RATIO", default=50.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Parquet uploads are bounded by their footer: rows, and bytes once uncompressed.
FLOWLOG_MAX_PARQUET_ROWS: int = env.int("FLOWLOG_MAX_PARQUET_ROWS", default=200_000_000)
FLOWLOG_MAX_PARQUET_BYTES: int = env.int(
    "FLOWLOG_MAX_PARQUET_BYTES", default=10 * FLOWLOG_MAX_UPLOAD_BYTES
)
# Each user's stored uploads (until retention removes them) stay under this; 0: no quota.
UPLOAD_QUOTA_BYTES: int = env.int("UPLOAD_QUOTA_BYTES", default=50 * 1024**3)

# AWS: the portal's own identity (default credential chain, or a named profile for a single-user
# install) assumes each registered account's role. `AWS_ENDPOINT_URL` (read by botocore itself)
# points every client at a local moto server in tests and the demo.
PORTAL_AWS_PRINCIPAL_ARN: str = env.str("PORTAL_AWS_PRINCIPAL_ARN", default="")
PORTAL_AWS_PROFILE: str = env.str("PORTAL_AWS_PROFILE", default="")
PORTAL_AWS_STS_REGION: str = env.str("PORTAL_AWS_STS_REGION", default="us-east-1")
PORTAL_AWS_CONNECT_TIMEOUT: float = env.float("PORTAL_AWS_CONNECT_TIMEOUT", default=5.0)
PORTAL_AWS_READ_TIMEOUT: float = env.float("PORTAL_AWS_READ_TIMEOUT", default=30.0)
PORTAL_AWS_MAX_ATTEMPTS: int = env.int("PORTAL_AWS_MAX_ATTEMPTS", default=6)

# WHOIS/RDAP organisation of external addresses in the rows shown (never every address).
# Air-gapped installs set WHOIS_ENABLED=false or point RDAP_BASE_URL at an internal mirror.
WHOIS_ENABLED: bool = env.bool("WHOIS_ENABLED", default=True)
RDAP_BASE_URL: str = env.str("RDAP_BASE_URL", default="https://rdap.org")
WHOIS_TIMEOUT_SECONDS: float = env.float("WHOIS_TIMEOUT_SECONDS", default=3.0)
WHOIS_DEADLINE_SECONDS: float = env.float("WHOIS_DEADLINE_SECONDS", default=10.0)
WHOIS_MAX_LOOKUPS: int = env.int("WHOIS_MAX_LOOKUPS", default=50)
WHOIS_CACHE_DAYS: int = env.int("WHOIS_CACHE_DAYS", default=30)
WHOIS_NEGATIVE_CACHE_DAYS: int = env.int("WHOIS_NEGATIVE_CACHE_DAYS", default=1)
# Country and AS of external addresses from offline data shipped with the geoip2fast package
# (analysis.geo); nothing is fetched. Off: addresses show WHOIS's country only.
GEO_ENABLED: bool = env.bool("GEO_ENABLED", default=True)
# Where an admin-uploaded AS database (a reference table of kind "AS database") is kept as
# sorted ranges, one Parquet file per version; web and workers must share it (like uploads).
GEO_DIR = DATA_DIR / "geo"

# Flow data fetched from AWS is kept, parsed, per source and window, so another analysis of the
# same data neither downloads nor parses again; bounded by size and age.
FLOW_CACHE_MAX_BYTES: int = env.int("FLOW_CACHE_MAX_BYTES", default=5 * 1024**3)
FLOW_CACHE_MAX_AGE_SECONDS: int = env.int("FLOW_CACHE_MAX_AGE_SECONDS", default=7 * 24 * 3600)

# Analysis engine limits (DuckDB spills to WORK_DIR beyond the memory limit).
ENGINE_MEMORY_LIMIT: str = env.str("ENGINE_MEMORY_LIMIT", default="1GB")
ENGINE_THREADS: int = env.int("ENGINE_THREADS", default=2)
RESULT_ROW_LIMIT: int = env.int("RESULT_ROW_LIMIT", default=10_000)

# Athena pushdown (accounts with Athena settings, S3 flow logs): a run on engine "auto" goes to
# Athena when its window holds more than ATHENA_AUTO_BYTES of flow-log objects. Cost estimates
# use ATHENA_COST_PER_TB_USD (Athena's price per TB scanned; it varies by region).
ATHENA_AUTO_BYTES: int = env.int("ATHENA_AUTO_BYTES", default=2 * 1024**3)
ATHENA_COST_PER_TB_USD: float = env.float("ATHENA_COST_PER_TB_USD", default=5.0)

# Celery: the queue only carries run ids; the QueryRun row is the record of every run.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if _TEST_PROCESS and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Test process gwN sends to and works from Redis database N + 1, never another's tasks.
    _redis_db = int(_TEST_PROCESS.removeprefix("gw")) + 1
    if _redis_db > 15:
        raise ImproperlyConfigured(f"at most 15 parallel test processes on Redis, not {_redis_db}")
    CELERY_BROKER_URL = urlunsplit(urlsplit(CELERY_BROKER_URL)._replace(path=f"/{_redis_db}"))
    # Celery reads the environment variable before this setting: make them agree.
    os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The folder broker is polled: every 0.1 s instead of kombu's 1 s takes about half a
        # second off the average wait before a worker picks a run up (bench.overhead).
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env.int("RUN_SOFT_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker blip must not kill a run in the middle: it finishes, and a redelivered message finds
# nothing left to claim (Celery 6 would otherwise change this default to True).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A running run touches its heartbeat this often; the reaper (Celery beat) requeues a run whose
# heartbeat is older than RUN_STALE_SECONDS, up to RUN_MAX_ATTEMPTS starts, then fails it.
RUN_HEARTBEAT_SECONDS: int = env.int("RUN_HEARTBEAT_SECONDS", default=10)
RUN_STALE_SECONDS: int = env.int("RUN_STALE_SECONDS", default=120)
RUN_MAX_ATTEMPTS: int = env.int("RUN_MAX_ATTEMPTS", default=3)
# At most this many runs over one AWS account at once, across every worker (portal.concurrency);
# a run over its cap waits in the queue, retried every RUN_CAP_RETRY_SECONDS.
RUN_MAX_PER_ACCOUNT: int = env.int("RUN_MAX_PER_ACCOUNT", default=2)
RUN_CAP_RETRY_SECONDS: int = env.int("RUN_CAP_RETRY_SECONDS", default=15)
# AWS windows longer than RUN_PART_SECONDS are fetched in parts (at most RUN_MAX_PARTS) by
# whichever workers serve the "download" queue, then analysed together on the "analyse" queue.
RUN_PART_SECONDS: int = env.int("RUN_PART_SECONDS", default=24 * 3600)
RUN_MAX_PARTS: int = env.int("RUN_MAX_PARTS", default=8)
# A run whose parts wait in the download queue is not stale until this long without a beat.
RUN_PARTS_STALE_SECONDS: int = env.int("RUN_PARTS_STALE_SECONDS", default=1800)
# Downloads and analyses have queues of their own, so a deployment can give each its workers.
CELERY_TASK_DEFAULT_QUEUE = "analyse"
CELERY_TASK_ROUTES = {
    "investigations.tasks.fetch_part": {"queue": "download"},
    "investigations.tasks.execute_run": {"queue": "analyse"},
    "investigations.tasks.analyse_run": {"queue": "analyse"},
}
# A queued run nobody claimed for this long has its message sent again (claims are idempotent,
# so an extra message for a run that merely waits behind others costs one query); a run whose
# message could not be sent at all (broker down at submit) is sent at the reaper's next pass.
RUN_RESEND_QUEUED_SECONDS: int = env.int("RUN_RESEND_QUEUED_SECONDS", default=120)
# Reports of investigations with more findings plus runs than this are rendered by a worker
# (with progress) instead of in the request: Markdown is quick, a PDF's layout is not.
REPORT_INLINE_MAX_ITEMS: int = env.int("REPORT_INLINE_MAX_ITEMS", default=1000)
REPORT_PDF_INLINE_MAX_ITEMS: int = env.int("REPORT_PDF_INLINE_MAX_ITEMS", default=50)
# Watches (investigations.watches): beat looks for due watches every WATCH_TICK_SECONDS; each
# window ends WATCH_LAG_SECONDS before now (flow logs reach CloudWatch and S3 minutes late) unless
# the watch says otherwise; spike alerts need WATCH_MIN_BASELINE_RUNS earlier runs.
WATCH_TICK_SECONDS: float = env.float("WATCH_TICK_SECONDS", default=30.0)
WATCH_LAG_SECONDS: int = env.int("WATCH_LAG_SECONDS", default=300)
WATCH_MIN_BASELINE_RUNS: int = env.int("WATCH_MIN_BASELINE_RUNS", default=3)
if WATCH_TICK_SECONDS <= 0 or WATCH_LAG_SECONDS < 0 or WATCH_MIN_BASELINE_RUNS < 1:
    raise ImproperlyConfigured(
        "WATCH_TICK_SECONDS must be positive, WATCH_LAG_SECONDS not negative and "
        "WATCH_MIN_BASELINE_RUNS at least 1."
    )
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {"task": "investigations.tasks.reap_stale_runs", "schedule": 60.0},
    "prune-old-data": {"task": "investigations.tasks.prune_old_data", "schedule": 3600.0},
    "prune-report-files": {
        "task": "investigations.reports.tasks.prune_reports",
        "schedule": 3600.0,
    },
    "audit-checkpoint": {
        "task": "portal.tasks.write_audit_checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_SECONDS),
    },
    # A tick that waited a minute in a busy queue is dropped: a later one covers it.
    "watches-tick": {
        "task": "watches.tick",
        "schedule": float(WATCH_TICK_SECONDS),
        "options": {"expires": max(60.0, float(WATCH_TICK_SECONDS))},
    },
}
# Retention: uploaded flow-log files of finished runs are removed after this many days (their
# name, size and SHA-256 stay on the run). 0 keeps them forever. Audit events are never pruned.
UPLOAD_RETENTION_DAYS: int = env.int("UPLOAD_RETENTION_DAYS", default=90)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PortalPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.TokenRateThrottle"],
    # `?format=` selects export formats (csv, ndjson, ocsf), not DRF renderers.
    "URL_FORMAT_OVERRIDE": None,
}
# Requests per token (or session user) and period: "1200/min", "50/s", "100000/day".
API_TOKEN_RATE: str = env.str("API_TOKEN_RATE", default="1200/min")

# /healthz answers ok/fail to anyone; with `Authorization: Bearer <HEALTHZ_TOKEN>` (or as an
# admin) it reports the database, broker, cache and scratch space separately.
HEALTHZ_TOKEN: str = env.str("HEALTHZ_TOKEN", default="")
HEALTHZ_MIN_FREE_BYTES: int = env.int("HEALTHZ_MIN_FREE_BYTES", default=1024**3)

# Webhooks only go to public addresses; these CIDRs (e.g. "10.20.0.0/16") are allowed as well,
# for receivers inside your network. Checked at creation and at every delivery.
WEBHOOK_ALLOWED_NETWORKS: list[str] = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
for _cidr in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {_exc}") from _exc

# Throttle counters live in this cache; use Redis when several web processes serve the API.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flow Log Portal API",
    "DESCRIPTION": "Investigations, runs over VPC Flow Logs, results, findings and the audit "
    "log. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc come from the drf-spectacular-sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies get their own components (no read-only fields; uploads as binary), so a
    # generated client can build them; one body type per operation (JSON, or multipart for
    # uploads, declared on those views), which generated clients need.
    "COMPONENT_SPLIT_REQUEST": True,
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "ENUM_NAME_OVERRIDES": {
        "InvestigationStatusEnum": "investigations.choices.InvestigationStatus",
        "RunStatusEnum": "investigations.choices.RunStatus",
        "FindingStatusEnum": "investigations.choices.FindingStatus",
        "WatchAlertKindEnum": "investigations.watches.models.AlertKind",
        "ReferenceKindEnum": "investigations.choices.ReferenceKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Control characters in messages are escaped: one event, one line (portal.logformat).
    "formatters": {
        "plain": {
            "()": "portal.logformat.SingleLineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Production hardening; `manage.py check --deploy` is part of the release checklist.
# Production defaults pass `manage.py check --deploy` cleanly; a plain-HTTP lab install can turn
# the TLS-only ones off by environment (docker-compose.yml shows how).
if not DEBUG:
    if TRUSTED_PROXIES:  # only a trusted proxy says the client used https
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
X_FRAME_OPTIONS = "DENY"
# Everything is served from here: no CDN, no inline script; the API docs page is the exception
# (Swagger UI's bootstrap is an inline script), see portal.middleware.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
