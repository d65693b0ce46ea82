"""Run Django in a subprocess with a chosen environment (settings are read once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
# The child sees only these variables from this process (plus what the test sets): anything else, such as this
# run's database or flags other tests set (DJANGO_ALLOW_ASYNC_UNSAFE), would leak into the child's configuration.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "CREATIVE_DATA_ROOT", "SYSTEMROOT")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in KEPT}
    env["ENV_FILE"] = ""  # a developer's .env (bin/run writes one) must not answer for the test
    return env


def run_django(code: str, env: dict[str, str], cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` after django.setup() with config.settings.base and exactly `env` on top of a clean environment."""
    child_env = clean_env()
    child_env.update(DJANGO_SETTINGS_MODULE="config.settings.base", PYTHONUNBUFFERED="1")
    child_env.update(env)
    return subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{code}"], cwd=cwd, env=child_env,
                          capture_output=True, text=True, timeout=timeout)


def run_manage(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    child_env = clean_env()
    child_env.update(DJANGO_SETTINGS_MODULE="config.settings.base", PYTHONUNBUFFERED="1")
    child_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=child_env, capture_output=True,
                          text=True, timeout=timeout)
