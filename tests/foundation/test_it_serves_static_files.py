"""Static files come from WhiteNoise: straight from the app folders in laptop mode (DEBUG on)."""

from __future__ import annotations

from tests.foundation.helpers import run_django

FETCH = (
    "from django.test import Client\n"
    "r = Client().get('/static/css/site.css')\n"
    "print(r.status_code); print(r.get('Content-Type', ''))\n"
)


def test_it_serves_static_files_in_laptop_mode(tmp_path):
    result = run_django(FETCH, {"DEBUG": "true", "ALLOWED_HOSTS": "testserver", "STATIC_ROOT": str(tmp_path / "s"),
                                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    status, content_type = result.stdout.strip().splitlines()[-2:]
    assert status == "200"
    assert content_type.startswith("text/css")


def test_it_needs_collectstatic_in_production(tmp_path):
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "testserver", "SECURE_SSL_REDIRECT": "false",
           "STATIC_ROOT": str(tmp_path / "s"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    before = run_django(FETCH, env)
    assert before.stdout.strip().splitlines()[-2] == "404", before.stdout + before.stderr
    collect = run_django("from django.core.management import call_command\ncall_command('collectstatic', '--noinput', "
                         "verbosity=0)", env)
    assert collect.returncode == 0, collect.stderr
    after = run_django(FETCH, env)
    assert after.stdout.strip().splitlines()[-2] == "200", after.stdout + after.stderr
