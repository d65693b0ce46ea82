"""Settings for the test suite: real PostgreSQL and Redis, isolated per test run.

Several test runs may share one machine (and one PostgreSQL and Redis), so each run gets its own
test database name and its own Redis key prefix, derived from TEST_RUN_ID (set by tests/conftest.py
and passed on to the Celery worker processes that the tests start).
"""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/creative")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
RUN_ID = os.environ.setdefault("TEST_RUN_ID", str(os.getpid()))
os.environ.setdefault("CELERY_KEY_PREFIX", f"test-{RUN_ID}:")

from .base import *  # noqa: E402,F403
from .base import API_THROTTLE_RATES, DATABASES, VAR_DIR  # noqa: E402

TEST_DB_NAME = f"test_creative_{RUN_ID}"
DATABASES["default"]["TEST"] = {"NAME": TEST_DB_NAME}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# A worker process started by the tests must use the test database, not the real one.
if os.environ.get("USE_TEST_DATABASE") == "1":
    DATABASES["default"]["NAME"] = TEST_DB_NAME

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media" / RUN_ID
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Test workers start often; importing torch in each child only to log the device would slow every test.
WORKER_DEVICE_CHECK = os.environ.get("WORKER_DEVICE_CHECK", "false").lower() == "true"
# WhiteNoise warns about a missing STATIC_ROOT on every request; the tests never run collectstatic.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# Tests script the API far faster than any person labels; the rate limits' own tests lower these again.
API_THROTTLE_RATES = {scope: "100000/s" for scope in API_THROTTLE_RATES}
