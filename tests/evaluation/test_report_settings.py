"""Report settings: defaults without a row, clear errors for impossible rules."""

import pytest
from django.core.exceptions import ValidationError

from evaluation.models import ReportSettings
from tests.evaluation.builders import build_campaign, make_annotators


@pytest.fixture
def campaign(db):
    return build_campaign({"regular": [[3, 0, 0, 0]]}, make_annotators(3))[0]


def test_it_uses_defaults_without_writing(campaign):
    settings = ReportSettings.for_campaign(campaign)
    assert settings.pk is None
    assert (settings.threshold, settings.tie_policy, settings.confidence) == (3, "plurality_or_none", 0.95)
    assert not ReportSettings.objects.exists()


def test_it_rejects_a_threshold_above_the_annotators_per_image(campaign):
    with pytest.raises(ValidationError, match="cannot exceed the campaign's 9"):
        ReportSettings(campaign=campaign, threshold=10).full_clean()


@pytest.mark.parametrize(
    ("field", "value"), [("tie_policy", "coin_flip"), ("max_attention_fail_rate", 1.5), ("confidence", 1.0), ("threshold", 0)]
)
def test_it_rejects_bad_values(campaign, field, value):
    with pytest.raises(ValidationError) as error:
        ReportSettings(campaign=campaign, **{field: value}).full_clean()
    assert field in error.value.message_dict


def test_it_shows_settings_in_the_admin(admin_client, campaign):
    settings = ReportSettings.objects.create(campaign=campaign, threshold=4)
    response = admin_client.get(f"/admin/evaluation/reportsettings/{settings.pk}/change/")
    assert response.status_code == 200
    response = admin_client.post(
        f"/admin/evaluation/reportsettings/{settings.pk}/change/",
        {"campaign": campaign.pk, "threshold": 12, "tie_policy": "plurality_or_none", "max_attention_fail_rate": 0.5,
         "min_attention_checks": 2, "confidence": 0.95},
    )
    assert response.status_code == 200  # the form comes back with the error; nothing was saved
    assert b"cannot exceed" in response.content
    settings.refresh_from_db()
    assert settings.threshold == 4
