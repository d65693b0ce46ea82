from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from annotation.models import Campaign, CampaignItem
from tests.factories import PASSWORD, make_annotator


def test_it_opens_a_campaign_in_the_admin(pool, annotator, stranger):
    User.objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    client.login(username="root", password=PASSWORD)
    team = [annotator, make_annotator("bert"), make_annotator("cleo")]
    form = client.get(reverse("admin:annotation_campaign_add")).context["adminform"].form
    # Only members of the annotators group can be chosen.
    assert list(form.fields["annotators"].queryset) == team
    response = client.post(reverse("admin:annotation_campaign_add"), {
        "name": "Round 1", "pool": pool.pk, "annotators_per_image": 3, "instructions": "", "priming_count": 16,
        "is_open": "on", "claim_timeout_seconds": 600, "annotators": [u.pk for u in team],
    })
    assert response.status_code == 302, response.content[:2000]
    campaign = Campaign.objects.get(name="Round 1")
    assert list(campaign.annotators.order_by("username")) == team
    assert CampaignItem.objects.filter(campaign=campaign).count() == pool.items.count()

    client.post(reverse("admin:annotation_campaign_changelist"),
                {"action": "close_campaigns", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert not campaign.is_open
