"""Campaign and report settings agree: threshold <= annotators per image <= annotators taking part.

Otherwise no image can reach a consensus (a threshold above the votes an image gets) or complete (more votes
per image than annotators): refused in the admin form and in clean(), with an error that names the fix, and the
report warns when stored settings leave no consensus possible.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import Campaign
from evaluation.models import ReportSettings
from tests.factories import make_annotator

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(client, researcher):
    client.force_login(researcher)
    return client


def campaign_form(pool, annotators, **changes) -> dict:
    data = {"name": "Round 1", "pool": pool.pk, "annotators_per_image": 9, "instructions": "<p>Look.</p>",
            "priming_count": 4, "is_open": "on", "claim_timeout_seconds": 600, "annotators": [u.pk for u in annotators]}
    data.update(changes)
    return data


def test_it_refuses_more_annotators_per_image_than_take_part(rita, study_pool):
    pair = [make_annotator("ann1"), make_annotator("ann2")]
    response = rita.post(reverse("admin:annotation_campaign_add"), campaign_form(study_pool, pair))
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 annotators take part but each image needs 9" in page
    assert "add at least 7 more annotators." in page  # lowering to 2 would fall below the threshold of 3
    assert not Campaign.objects.exists()


def test_it_refuses_fewer_annotators_per_image_than_the_threshold(rita, study_pool):
    pair = [make_annotator("ann1"), make_annotator("ann2")]
    response = rita.post(reverse("admin:annotation_campaign_add"),
                         campaign_form(study_pool, pair, annotators_per_image=2))
    assert response.status_code == 200
    page = response.content.decode()
    assert "consensus threshold of 3 votes" in page and "ask for at least 3 annotators per image" in page
    assert not Campaign.objects.exists()


def test_it_accepts_settings_that_agree(rita, study_pool):
    trio = [make_annotator(f"ann{i}") for i in range(3)]
    response = rita.post(reverse("admin:annotation_campaign_add"),
                         campaign_form(study_pool, trio, annotators_per_image=3))
    assert response.status_code == 302
    assert Campaign.objects.get().annotators.count() == 3


def test_it_checks_removed_annotators_of_a_saved_campaign(rita, study_pool):
    trio = [make_annotator(f"ann{i}") for i in range(3)]
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=3, priming_count=4)
    campaign.annotators.add(*trio)
    response = rita.post(reverse("admin:annotation_campaign_change", args=[campaign.pk]),
                         campaign_form(study_pool, trio[:2], annotators_per_image=3))
    assert response.status_code == 200 and "add at least 1 more annotators" in response.content.decode()
    assert campaign.annotators.count() == 3


def test_it_checks_in_the_model_too(study_pool):
    pair = [make_annotator("ann1"), make_annotator("ann2")]
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=9)
    campaign.annotators.add(*pair)
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "annotators" in error.value.message_dict
    assert campaign.enrolment_limit() == 2
    campaign.annotators_per_image = 2
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "annotators_per_image" in error.value.message_dict


def test_it_refuses_a_report_threshold_above_the_annotators_per_image(study_pool):
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=3)
    with pytest.raises(ValidationError) as error:
        ReportSettings(campaign=campaign, threshold=4).full_clean()
    message = error.value.message_dict["threshold"][0]
    assert "lower the threshold to 3 or less" in message


def test_it_warns_on_the_report_when_no_consensus_is_possible(rita, study_pool):
    # Settings made before the checks existed (or written around them): the report must not read as a result.
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=2)
    page = rita.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert 'id="no-consensus-warning"' in page
    assert "No image can reach a consensus" in page and "at most 2" in page


def test_it_does_not_warn_when_consensus_is_possible(rita, study_pool):
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=3)
    campaign.annotators.add(*[make_annotator(f"ann{i}") for i in range(3)])
    page = rita.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert 'id="no-consensus-warning"' not in page


def test_it_does_not_open_a_campaign_whose_settings_disagree(rita, study_pool):
    pair = [make_annotator("ann1"), make_annotator("ann2")]
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=9, is_open=False)
    campaign.annotators.add(*pair)
    response = rita.post(reverse("admin:annotation_campaign_changelist"),
                         {"action": "open_campaigns", "_selected_action": [campaign.pk]}, follow=True)
    assert "was not opened" in response.content.decode() and "add at least 7 more annotators" in response.content.decode()
    campaign.refresh_from_db()
    assert not campaign.is_open
    Campaign.objects.filter(pk=campaign.pk).update(annotators_per_image=3)
    campaign.annotators.add(make_annotator("ann3"))
    rita.post(reverse("admin:annotation_campaign_changelist"),
              {"action": "open_campaigns", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.is_open
