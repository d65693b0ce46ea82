"""Settings for the platform, read from the environment.

Every value that differs between a laptop, CI and a deployment comes from an environment variable
(or a `.env` file at the repository root). Defaults give the embedded single-machine mode:
an SQLite database under ``var/`` and DEBUG on.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# Values already in the environment win over the file. ENV_FILE names another file; empty reads none.
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Without DEBUG a real secret is required: failing at start beats signing sessions with a known key.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-do-not-use-in-production")
else:
    try:
        SECRET_KEY = env("SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(a long random string), or set DEBUG=true for local development."
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
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
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "generation",
    "annotation",
    "evaluation",
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.page_edge.RequestEdgeMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.api_edge.APIEdgeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "annotation.panel.ParticipantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.roles",
            ],
            # The study dashboard looks at all three apps, so it lives above them in config/, which is no app.
            "libraries": {"study": "config.templatetags.study"},
        },
    },
]

# Database: DATABASE_URL, default an SQLite file (embedded mode).
_DB_EXAMPLE = "postgres://user:password@host:5432/dbname or sqlite:////absolute/path/db.sqlite3"
_database_url = env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": env.db_url_config(_database_url)}
except Exception as exc:  # environ raises bare exceptions for unknown schemes and bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL is malformed ({exc}). Expected e.g. {_DB_EXAMPLE}") from None
# environ passes an unknown scheme through as an engine name; catch it here, with the variable's name.
if DATABASES["default"].get("ENGINE") not in set(environ.Env.DB_SCHEMES.values()) or not DATABASES["default"].get("NAME"):
    raise ImproperlyConfigured(
        f"DATABASE_URL is malformed: {_database_url.split('@')[-1]!r} names no database engine or no database. "
        f"Expected e.g. {_DB_EXAMPLE}"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# Off by default: Django's check is a `SELECT 1` before every request. A connection that broke meanwhile fails one
# request and is replaced at its end (Django closes a connection that raised a database error).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# ModelBackend with the logged-in user kept in the cache between requests (config/auth_backends.py).
AUTHENTICATION_BACKENDS = ["config.auth_backends.CachedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Media holds checkpoints and sample images. It is never served as a public folder: images reach
# annotators only through views that check access and hide provenance.
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Where creative_core keeps the MNIST / Fashion-MNIST idx files.
DATA_ROOT = Path(env("CREATIVE_DATA_ROOT", default=str(VAR_DIR / "data")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "config.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, read strictly (config/api_edge.py): a form body is a 415.
    "DEFAULT_PARSER_CLASSES": ["config.api_edge.StrictJSONParser"],
    "EXCEPTION_HANDLER": "config.api_edge.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.throttles.AnnotationThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The API's limits (docs/reference/annotation.md, "API"). A body over API_MAX_BODY_BYTES is refused with a 413 before it is read.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=8)
# Per user (config/throttles.py). A fast honest annotator sends about one request a second; these stop floods only.
API_THROTTLE_RATES = {
    "annotation_burst": env("API_THROTTLE_BURST", default="30/s"),
    "annotation_sustained": env("API_THROTTLE_SUSTAINED", default="300/min"),
}
# Data collection: a label that came faster than this (by the server's clock) counts as a speeder's in the
# researchers' tables; attention checks that simple image statistics tell from the pool above this cross-validated
# AUC, or reconstructions that vary less than this share of the images they reconstruct, stop a pool build.
ANNOTATION_SPEEDER_FLOOR_MS = env.int("ANNOTATION_SPEEDER_FLOOR_MS", default=1000)
ATTENTION_MAX_SEPARABILITY = env.float("ATTENTION_MAX_SEPARABILITY", default=0.9)
ATTENTION_MIN_SPREAD = env.float("ATTENTION_MIN_SPREAD", default=0.25)
# The OpenAPI 3 schema (/api/schema/) and its documentation page (/api/docs/), for logged-in users;
# the Swagger UI files come from drf-spectacular-sidecar, so the page loads nothing from a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Creative decoder annotation API",
    "DESCRIPTION": (
        "Labeling blinded images, one at a time. Every refusal is JSON: `{\"error\": code, \"detail\": message}`. "
        f"Bodies are JSON of at most {API_MAX_BODY_BYTES:,} bytes, nested at most {API_MAX_JSON_DEPTH} deep; "
        f"each user may send {API_THROTTLE_RATES['annotation_burst']} and {API_THROTTLE_RATES['annotation_sustained']}. "
        "Authentication: a logged-in session (with its CSRF token), or `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api_docs.closed_request_bodies"],
}

# Celery. Heavy work (training, generation, D_r) goes to the "gpu" queue, light work (reports, probes) to
# "default". The default broker is kombu's filesystem transport (embedded mode: no server needed, one machine);
# set CELERY_BROKER_URL=redis://host:6379/0 for compose, CI and several machines.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://") and not CELERY_BROKER_URL[len("filesystem://"):].strip("/"):
    # The same broker with a host named: without one, kombu warns "No hostname was supplied" on every connection.
    CELERY_BROKER_URL = "filesystem://localhost//"
    if "CELERY_BROKER_URL" in os.environ:  # Celery reads the variable before the settings
        os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
if CELERY_BROKER_URL.split("://", 1)[0] not in ("redis", "rediss", "filesystem", "memory", "amqp", "pyamqp"):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r} names no supported broker; use redis://host:6379/0 or filesystem://"
    )
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_CREATE_MISSING_QUEUES = True
CELERY_TASK_ROUTES = {
    "generation.tasks.build_pool_task": {"queue": "default"},
    "generation.tasks.fail_stale_work_task": {"queue": "default"},
    "generation.tasks.*": {"queue": "gpu"},
    "evaluation.tasks.*": {"queue": "default"},
    "config.tasks.gpu_probe": {"queue": "gpu"},
    "config.tasks.*": {"queue": "default"},
}
# A job is acknowledged only when it ends, so a worker that dies mid-job gives it back to the queue.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The soft limit raises SoftTimeLimitExceeded inside the task (it marks its row failed); the hard limit
# kills the child a few minutes later if the task ignores it.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 3600 + 300)
# Longer than the longest job (the hard limit), or Redis would hand an unacknowledged long job to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=8 * 3600),
}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT, "
        "or a long job would be delivered twice"
    )
if CELERY_BROKER_URL.startswith("redis"):
    # Fail fast when Redis is unreachable instead of hanging a web request.
    CELERY_BROKER_TRANSPORT_OPTIONS.update(socket_connect_timeout=2, socket_timeout=10)
if env("CELERY_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_KEY_PREFIX")
# Embedded mode: messages are files in one folder shared by the site and the worker on this machine.
BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "control", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(BROKER_DIR / "queue"),
        data_folder_out=str(BROKER_DIR / "queue"),
        control_folder=str(BROKER_DIR / "control"),
        processed_folder=str(BROKER_DIR / "processed"),
        store_processed=False,
        polling_interval=0.2,  # the default 1 s makes every task and health ping wait
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The cache holds rate-limit counters, which every web process must share: Redis (CACHE_URL, by default the
# broker's Redis when that is Redis), else (embedded mode, one machine) memory. Keys carry CACHE_KEY_PREFIX (by
# default CELERY_KEY_PREFIX), so test runs sharing one Redis keep their own counters.
CACHE_URL = env("CACHE_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "locmem://")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default=env("CELERY_KEY_PREFIX", default="")),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://host:6379/0 or locmem://")
# Sessions are read on every request: from Redis when the cache is Redis (no database query at all), else (embedded
# mode: a per-process memory cache) from the database through that cache, so they outlive a restart.
_SHARED_CACHE = CACHES["default"]["BACKEND"].endswith("RedisCache")
SESSION_ENGINE = env("SESSION_ENGINE", default="django.contrib.sessions.backends." + (
    "cache" if _SHARED_CACHE else "cached_db"))
# How long the logged-in user's row is kept in the cache (0: read on every request). Only with a shared cache: a
# change made by another process (a deactivation) must reach every web process; saves clear it at once.
AUTH_USER_CACHE_SECONDS = env.int("AUTH_USER_CACHE_SECONDS", default=300 if _SHARED_CACHE else 0)
CELERY_TASK_IGNORE_RESULT = True  # tasks write their outcome to the database rows they work on
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Periodic work, run by one `celery beat` (bin/run: the worker's -B; compose: the beat service).
# Apps add their entries in their blocks at the end of this file.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Each worker child checks its torch device once at start (logged), so a broken CUDA shows before a job.
WORKER_DEVICE_CHECK = env.bool("WORKER_DEVICE_CHECK", default=True)
# The health endpoint waits this long for a worker to answer a ping.
HEALTH_WORKER_TIMEOUT = env.float("HEALTH_WORKER_TIMEOUT", default=1.0)

# Security headers. Production (DEBUG off) defaults pass `manage.py check --deploy`; each one can be
# relaxed from the environment for a plain-HTTP installation behind a trusted network.
# BEHIND_PROXY: a reverse proxy (deploy/nginx) is in front and sets X-Forwarded-Proto and X-Real-IP itself, so
# they can be believed. Without one a client could send them: "X-Forwarded-Proto: https" over plain HTTP would
# pass for a secure request (no HTTPS redirect, secure-only checks passed).
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"


def _style_hashes(*templates: Path) -> list[str]:
    """The CSP hashes of the <style> elements of templates that come with packages (Django's change list, the API
    docs' page): allowed by their exact content, so no other inline style is."""
    import base64
    import hashlib
    import re

    blocks = [b for t in templates for b in re.findall(r"<style>(.*?)</style>", t.read_text(), re.S)]
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks]


def _package_template(package: str, name: str) -> Path:
    import importlib.util

    return Path(importlib.util.find_spec(package).origin).parent / name


# Every page (django-csp): scripts, styles, fonts and fetches from this site only, images also inline (the labeling
# page and the priming grid carry their PNGs as data: URLs), no plugins, no framing, forms post here only. Style
# attributes are allowed (the admin's and a few templates'); <style> elements and inline scripts are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *_style_hashes(
            _package_template("django.contrib.admin", "templates/admin/change_list.html"),
            _package_template("drf_spectacular", "templates/drf_spectacular/swagger_ui.html"))],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# No page uses a device feature: deny them all, for this site and anything it could embed (only features Chromium
# knows: an unknown one is an error in the console of every page).
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb",
    "fullscreen", "display-capture", "midi", "serial", "browsing-topics"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- generation ---
# Samples per batch for generation and D_r on a worker (lower it when a GPU runs out of memory).
GENERATION_BATCH_SIZE = env.int("GENERATION_BATCH_SIZE", default=1000)
# A running training or job whose worker wrote no heartbeat for this long is failed (it can be relaunched).
# Heartbeats come between batches, so this must exceed the longest batch (optimised D_r on a CPU is the slowest).
GENERATION_STALE_AFTER = env.int("GENERATION_STALE_AFTER", default=900)
# Samples per scheme whose 8-bit images a job keeps in its results file: pools drawn from them need no model.
GENERATION_POOL_RESERVE = env.int("GENERATION_POOL_RESERVE", default=1000)
# Epochs of the small CNN that gives a model's samples their classifier surrogates (entropy, out-of-class, ...).
GENERATION_CLASSIFIER_EPOCHS = env.int("GENERATION_CLASSIFIER_EPOCHS", default=1)
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "generation-fail-stale-work": {
        "task": "generation.tasks.fail_stale_work_task",
        "schedule": 60.0,
        "options": {"queue": "default"},
    },
}

# --- annotation ---
# New accounts made by a study link, per network address and per link (django-ratelimit's "count/period").
# A university pool behind one address needs a higher per-address rate.
STUDY_ENROL_RATE_PER_IP = env("STUDY_ENROL_RATE_PER_IP", default="30/h")
STUDY_ENROL_RATE_PER_LINK = env("STUDY_ENROL_RATE_PER_LINK", default="600/h")
# Behind a reverse proxy, the request header that holds the visitor's address: by default the X-Real-IP that
# deploy/nginx sets (REMOTE_ADDR would be the proxy's own address, the same for everyone).
_ip_meta_key = env("RATELIMIT_IP_META_KEY", default="") or ("HTTP_X_REAL_IP" if BEHIND_PROXY else "")
if _ip_meta_key:
    RATELIMIT_IP_META_KEY = _ip_meta_key
