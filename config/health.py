"""Health checks: database, broker, live worker."""

from __future__ import annotations

from typing import Any

from django.db import connection


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any failure is a "down" answer, with the reason
        return {"ok": False, "error": str(exc)}


def check_all() -> dict[str, Any]:
    checks = {"database": check_database()}
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
