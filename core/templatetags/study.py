from __future__ import annotations

from django import template
from django.urls import reverse

from config.roles import is_researcher
from core.dashboard import study_rows

register = template.Library()


@register.inclusion_tag("admin/study_dashboard.html", takes_context=True)
def study_dashboard(context) -> dict:
    request = context["request"]
    shown = is_researcher(request.user)
    return {"shown": shown, "rows": study_rows() if shown else [],
            "train_url": reverse("admin:generation_trainedmodel_add"), "reports_url": reverse("evaluation:index")}
