"""Production settings (DEBUG off, the defaults) pass `manage.py check --deploy` with no warning."""

from tests.foundation.helpers import run_manage

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "kV3q9sX1-p7Lr2mZ8tQw4eYb6nUc0aHf5jGd-oPiRsTuVxWyZ_AbCdEfGhIjKlMn",
    "ALLOWED_HOSTS": "creative.example.org",
}


def test_it_passes_deploy_checks_in_production():
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_flags_a_weak_secret_key():
    """The check above can fail: a short key is a deploy warning."""
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr
