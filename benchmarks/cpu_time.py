"""CPU time a benchmark's load costs, whatever else the machine is doing: gunicorn's master and workers, the
PostgreSQL backends of one database, and the whole machine (psutil, and PostgreSQL's own list of its backends)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading

import psutil

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _cpu(times) -> float:
    return times.user + times.system


def server_cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU time (user + system) used so far by gunicorn's master and workers: the web tier's cost, whatever else
    the machine is doing."""
    master = psutil.Process(proc.pid)
    total = 0.0
    for p in [master, *master.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += _cpu(p.cpu_times())
    return total


class DatabaseCPU:
    """CPU time (user + system) spent by the PostgreSQL backends serving this database, from the server's own list
    of them (pg_stat_activity, datname) and the kernel's accounting of each backend (/proc, via psutil): other
    databases on the same server are not counted. Backends come and go, so a thread samples them; a backend's CPU
    counts from the first sample it appears in (or 0 when it was born after the start)."""

    def __init__(self, db_name: str, interval: float = 0.5) -> None:
        import psycopg2

        self.db_name, self.interval = db_name, interval
        self.conn = psycopg2.connect(ADMIN_URL)
        self.conn.autocommit = True
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop_event = threading.Event()
        self._sample(at_start=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pids(self) -> list[int]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.db_name])
            return [row[0] for row in cur.fetchall()]

    def _sample(self, at_start: bool = False) -> None:
        for pid in self._pids():
            with contextlib.suppress(psutil.Error):
                cpu = _cpu(psutil.Process(pid).cpu_times())
                self.first.setdefault(pid, cpu if at_start else 0.0)
                self.last[pid] = cpu

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._sample()

    def seconds(self) -> float:
        """CPU seconds so far; stops the sampling."""
        self.stop_event.set()
        self.thread.join()
        self._sample()
        self.conn.close()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def machine_busy_seconds() -> float:
    """CPU time (all cores, everything but idle and I/O wait) the whole machine has spent: gunicorn, PostgreSQL,
    this script and anything else running."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)
