"""Run Django in a subprocess with a chosen environment (settings are read once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
# Variables that would leak this test run's configuration into the child.
CLEARED = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "CELERY_KEY_PREFIX",
            "TEST_RUN_ID", "USE_TEST_DATABASE", "ALLOWED_HOSTS")


def run_django(code: str, env: dict[str, str], cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` after django.setup() with config.settings.base and exactly `env` on top of a clean environment."""
    child_env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    child_env.update(DJANGO_SETTINGS_MODULE="config.settings.base", PYTHONUNBUFFERED="1")
    child_env.update(env)
    return subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{code}"], cwd=cwd, env=child_env,
                          capture_output=True, text=True, timeout=timeout)


def run_manage(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    child_env.update(DJANGO_SETTINGS_MODULE="config.settings.base", PYTHONUNBUFFERED="1")
    child_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=child_env, capture_output=True,
                          text=True, timeout=timeout)
