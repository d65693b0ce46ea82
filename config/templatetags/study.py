"""The `{% study_dashboard %}` tag of the admin index. config/ is no installed app, so settings.TEMPLATES names this
library ("study") instead of Django finding it by app."""

from __future__ import annotations

from django import template
from django.urls import reverse

from config.dashboard import study_rows
from config.roles import is_researcher

register = template.Library()


@register.inclusion_tag("admin/study_dashboard.html", takes_context=True)
def study_dashboard(context) -> dict:
    request = context["request"]
    shown = is_researcher(request.user)
    return {"shown": shown, "rows": study_rows() if shown else [],
            "train_url": reverse("admin:generation_trainedmodel_add"), "reports_url": reverse("evaluation:index")}
