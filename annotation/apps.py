from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"

    def ready(self) -> None:
        from . import panel  # noqa: F401  (connects the study links' cache signals in every process)
