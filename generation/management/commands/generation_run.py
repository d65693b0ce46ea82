"""Run a training or a generation job in this process, without a worker (a shell on a GPU machine, a script)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation import services
from generation.models import GenerationJob, JobStatus, TrainedModel


class Command(BaseCommand):
    help = "Train a model (--model ID) or run a generation job (--job ID) here and now; a failed or cancelled row is run again."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--model", type=int, help="id of a trained model row to train")
        group.add_argument("--job", type=int, help="id of a generation job to run")

    def handle(self, *args, model: int | None = None, job: int | None = None, **options) -> None:
        kind, pk = (TrainedModel, model) if model is not None else (GenerationJob, job)
        row = kind.objects.filter(pk=pk).first()
        if row is None:
            raise CommandError(f"There is no {kind._meta.verbose_name} with id {pk}.")
        if row.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            kind.objects.filter(pk=pk).update(status=JobStatus.QUEUED, error="", progress=0.0)
        (services.train_model if kind is TrainedModel else services.run_job)(pk)
        row.refresh_from_db()
        if row.status != JobStatus.SUCCEEDED:
            raise CommandError(f"{row}: {row.status}. {row.error}")
        self.stdout.write(f"{row}: {row.status} on {row.device}.")
