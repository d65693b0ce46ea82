"""Write a campaign's report CSVs from the command line (the same files as the report page's downloads)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import Campaign
from evaluation import csv_export
from evaluation.reports import build_report


class Command(BaseCommand):
    help = "Write campaign-<id>-<kind>.csv files for a campaign's report (or print one kind to stdout)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", type=int, help="Campaign id.")
        parser.add_argument("--out", type=Path, help="Folder for the files (created if missing).")
        parser.add_argument("--kind", choices=sorted(csv_export.KINDS), help="Only this file; without --out it goes to stdout.")

    def handle(self, *args, campaign: int, out: Path | None, kind: str | None, **options) -> None:
        try:
            obj = Campaign.objects.select_related("pool__job__trained_model").get(pk=campaign)
        except Campaign.DoesNotExist:
            raise CommandError(f"No campaign with id {campaign}.") from None
        if out is None and kind is None:
            raise CommandError("Give --out FOLDER, or --kind KIND to print one file.")
        obj.note_report_viewed()  # results seen from here too: a later manual exclusion comes after them
        report = build_report(obj)
        kinds = [kind] if kind else list(csv_export.KINDS)
        if out is None:
            self.stdout.write(csv_export.render(csv_export.KINDS[kinds[0]](report)), ending="")
            return
        out.mkdir(parents=True, exist_ok=True)
        for name in kinds:
            path = out / f"campaign-{obj.pk}-{name}.csv"
            path.write_text(csv_export.render(csv_export.KINDS[name](report)), encoding="utf-8", newline="")
            self.stdout.write(f"wrote {path}")
