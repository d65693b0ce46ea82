"""`manage.py bootstrap_accounts` (run by bin/run): an admin researcher and demo annotators who can log in."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from config.roles import is_annotator, is_researcher


def bootstrap(*args: str) -> str:
    out = StringIO()
    call_command("bootstrap_accounts", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_an_admin_researcher_and_annotators(client):
    output = bootstrap("--admin-password", "admin-pass-123", "--annotators", "3", "--annotator-password", "ann-pass-9")
    admin = User.objects.get(username="admin")
    assert is_researcher(admin) and admin.groups.filter(name="researchers").exists()
    assert [u.username for u in User.objects.filter(groups__name="annotators").order_by("username")] == [
        "demo1", "demo2", "demo3"]
    assert all(is_annotator(u) and not is_researcher(u) for u in User.objects.filter(username__startswith="demo"))
    assert "admin / admin-pass-123" in output
    assert client.login(username="admin", password="admin-pass-123")
    assert client.get("/admin/").status_code == 200
    assert client.login(username="demo2", password="ann-pass-9")


@pytest.mark.django_db
def test_it_generates_and_prints_passwords():
    output = bootstrap("--annotators", "1")
    password = output.split("admin / ", 1)[1].split()[0]
    assert len(password) >= 12
    assert User.objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_it_keeps_existing_passwords_when_run_again():
    bootstrap("--admin-password", "first-pass-123", "--annotators", "1", "--annotator-password", "ann-first-1")
    output = bootstrap("--annotators", "1")
    assert User.objects.get(username="admin").check_password("first-pass-123")
    assert User.objects.get(username="demo1").check_password("ann-first-1")
    assert "(unchanged)" in output
    assert User.objects.filter(username="admin").count() == 1
