"""Health checks: the database, the broker, and whether any worker is alive.

Each check is bounded in time (a load balancer calls this often), and a failure is an answer with its
reason, never an exception.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any failure is a "down" answer, with the reason
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    from .celery_app import app

    with app.connection_for_write() as conn:
        # One try, no retry loop: Redis is configured with a 2 s connect timeout in settings.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        transport = conn.transport_cls
        if hasattr(conn.default_channel, "client") and hasattr(conn.default_channel.client, "ping"):
            conn.default_channel.client.ping()  # redis: the connection is lazy, a ping proves it answers
    return {"ok": True, "transport": str(transport)}


def check_workers(timeout: float | None = None) -> dict[str, Any]:
    """Ask every worker for a pong (a broadcast over the broker); waits at most `timeout` seconds."""
    from .celery_app import app

    replies = app.control.ping(timeout=settings.HEALTH_WORKER_TIMEOUT if timeout is None else timeout)
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return {"ok": False, "workers": [], "error": "no worker answered a ping"}
    return {"ok": True, "workers": names}


def check_all() -> dict[str, Any]:
    checks = {"database": _timed(check_database), "broker": _timed(check_broker)}
    if checks["broker"]["ok"]:
        checks["worker"] = _timed(check_workers)
    else:  # pinging through a dead broker would only wait for the publish retries
        checks["worker"] = {"ok": False, "workers": [], "error": "broker is down"}
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
