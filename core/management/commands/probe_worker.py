"""`manage.py probe_worker`: send a probe task through the broker and wait for a worker to write its row."""

from __future__ import annotations

import secrets
import time

from django.core.management.base import BaseCommand, CommandError

from config.tasks import record_probe
from core.models import WorkerProbe


class Command(BaseCommand):
    help = "Send a probe task to the default queue and wait until a worker has written it to the database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")

    def handle(self, *args, timeout: float, **options) -> None:
        token = secrets.token_hex(8)
        record_probe.delay(token)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = WorkerProbe.objects.filter(token=token).first()
            if probe is not None:
                self.stdout.write(f"worker {probe.hostname} (pid {probe.pid}, device {probe.device}) ran the probe")
                return
            time.sleep(0.3)
        raise CommandError(f"no worker ran the probe within {timeout:g}s: is a worker running on the default queue?")
