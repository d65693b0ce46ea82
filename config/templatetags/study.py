"""The `{% study_dashboard %}` tag of the admin index. config/ is no installed app, so settings.TEMPLATES names this
library ("study") instead of Django finding it by app."""

from __future__ import annotations

from django import template
from django.urls import reverse

from config.dashboard import demo_status, study_rows
from config.roles import is_researcher

register = template.Library()


@register.inclusion_tag("admin/study_dashboard.html", takes_context=True)
def study_dashboard(context) -> dict:
    request = context["request"]
    shown = is_researcher(request.user)
    return {"shown": shown, "rows": study_rows() if shown else [],
            "train_url": reverse("admin:generation_trainedmodel_add"), "reports_url": reverse("evaluation:index")}


@register.simple_tag(takes_context=True)
def demo_being_prepared(context):
    """The demo's DemoStatus for a researcher while bin/run prepares it, else None."""
    return demo_status() if is_researcher(context["request"].user) else None
