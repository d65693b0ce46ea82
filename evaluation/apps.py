from django.apps import AppConfig
from django.db.models.signals import post_save


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self) -> None:
        from annotation.models import Campaign

        from .models import ReportSettings

        def register_when_open(sender, instance: Campaign, raw: bool = False, **kwargs) -> None:
            # An open campaign's report settings in force are its pre-registered primary analysis.
            if instance.is_open and not raw:
                ReportSettings.register(instance)

        post_save.connect(register_when_open, sender=Campaign, weak=False, dispatch_uid="evaluation.register_analysis")
