"""Every admin page opens for a researcher: each registered model's list, add page and the page of a real row.

The rows come from a study built through the services (trained model, job, pool, labelled campaign), the
management commands and the worker's own task, so a page that breaks on real data shows here. A model registered
later is walked automatically; the test fails until the study below builds a row of it.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotation.models import Participant, StudyLink
from config.admin import FreezingAdmin
from config.tasks import record_probe
from generation import services
from tests.evaluation.builders import set_report_settings
from tests.factories import PASSWORD, make_researcher

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(labelled_campaign, raters):
    """One real row of every registered model."""
    record_probe("admin walk")  # what a worker writes when probed
    Token.objects.create(user=raters[0])
    # Registered when the campaign opened (a row per open campaign); this one with its own threshold, as if it had
    # been set before the first label (a registered value cannot change once labels exist).
    set_report_settings(labelled_campaign, threshold=2)
    StudyLink.objects.create(campaign=labelled_campaign)
    Participant.objects.create(campaign=labelled_campaign, participant_id="PANEL1", outcome="no_work")
    # A pool built the way the admin builds one: a PoolBuild row, run as its task runs it.
    build = services.launch_pool_build(labelled_campaign.pool.job, per_scheme=1, seed=1, name="second pool")
    services.run_pool_build(build.pk)
    build.refresh_from_db()
    assert build.status == "succeeded", build.error
    return labelled_campaign


def walk(client: Client, user: User) -> list[str]:
    """Every page the user's admin offers; the ones that did not answer 200 or 302."""
    request = RequestFactory().get("/admin/")
    request.user = user
    broken = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_module_permission(request) and not user.is_superuser:
            continue
        info = model._meta.app_label, model._meta.model_name
        row = model_admin.get_queryset(request).order_by("pk").first()
        assert row is not None, f"the study builds no {model.__name__} row: add one to the study fixture"
        pages = [reverse("admin:{}_{}_changelist".format(*info)),
                 reverse("admin:{}_{}_change".format(*info), args=[quote(row.pk)])]
        if model_admin.has_add_permission(request):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
            if isinstance(model_admin, FreezingAdmin):  # "Copy as a new ..." of the row
                pages.append(reverse("admin:{}_{}_add".format(*info)) + f"?copy_of={row.pk}")
        for url in pages:
            response = client.get(url)
            if response.status_code not in (200, 302):
                broken.append(f"{url}: {response.status_code}")
            # The media folder is never served (it holds the pools' blinded files): a link into it is a dead link.
            elif f'href="{settings.MEDIA_URL}' in response.content.decode():
                broken.append(f"{url}: links into {settings.MEDIA_URL}, which is not served")
    return broken


def test_it_opens_every_admin_page_to_the_admin_account(study):
    call_command("bootstrap_accounts", admin_password=PASSWORD, annotators=0, stdout=None)
    client = Client()
    assert client.login(username="admin", password=PASSWORD)
    assert walk(client, User.objects.get(username="admin")) == []


def test_it_opens_every_admin_page_a_researcher_sees(study):
    user = make_researcher("ruth")
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == 200
    assert walk(client, user) == []
