"""The Celery application.

Workers import Django settings lazily; models (torch) are loaded inside tasks, i.e. in the worker's
child process, never at import time in the parent.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("creative_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The project package is not an app, so autodiscovery does not see its tasks module.
app.conf.include = ["config.tasks"]
