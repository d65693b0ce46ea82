"""A row written by a worker: proof that a task went through the broker, ran, and reached the database."""

from __future__ import annotations

from django.db import models


class WorkerProbe(models.Model):
    token = models.CharField(max_length=64, db_index=True, help_text="Chosen by whoever sent the probe.")
    hostname = models.CharField(max_length=255, help_text="The worker node that ran it.")
    pid = models.PositiveIntegerField(help_text="The worker child process that ran it.")
    device = models.CharField(max_length=32, help_text="The torch device that worker would use.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.device}) {self.created:%Y-%m-%d %H:%M:%S}"
