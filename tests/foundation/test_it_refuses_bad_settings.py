"""A misconfigured deployment stops at start with a message that names the variable and the fix."""

from tests.foundation.helpers import run_django

GOOD_KEY = "a-perfectly-fine-secret-key-for-this-test-0123456789-abcdefghij"


def test_it_refuses_a_malformed_database_url():
    result = run_django("", {"DEBUG": "false", "SECRET_KEY": GOOD_KEY, "DATABASE_URL": "notaurl"})
    assert result.returncode != 0
    assert "DATABASE_URL is malformed" in result.stderr
    assert "postgres://user:password@host:5432/dbname" in result.stderr


def test_it_refuses_an_unknown_database_scheme():
    result = run_django("", {"DEBUG": "true", "DATABASE_URL": "oracle2://u:p@h/db"})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_it_refuses_production_without_a_secret_key():
    result = run_django("", {"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_allows_development_without_a_secret_key():
    result = run_django("from django.conf import settings; print(settings.DEBUG)", {"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_it_refuses_an_unknown_broker():
    result = run_django("", {"DEBUG": "true", "CELERY_BROKER_URL": "mysql://localhost/queue"})
    assert result.returncode != 0
    assert "CELERY_BROKER_URL" in result.stderr and "redis://" in result.stderr


def test_it_refuses_a_visibility_timeout_shorter_than_a_job():
    result = run_django("", {"DEBUG": "true", "CELERY_TASK_TIME_LIMIT": "3600", "CELERY_VISIBILITY_TIMEOUT": "600"})
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT" in result.stderr
