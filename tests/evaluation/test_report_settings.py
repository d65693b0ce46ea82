"""Report settings: defaults without a row, clear errors for impossible rules."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from evaluation.models import ReportSettings
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


@pytest.fixture
def campaign(db):
    return build_campaign({"regular": [[3, 0, 0, 0]]}, make_annotators(3))[0]


@pytest.fixture
def closed_campaign(db):
    campaign = build_campaign({}, make_annotators(3))[0]
    campaign.is_open = False
    campaign.save()
    ReportSettings.objects.filter(campaign=campaign).delete()
    return campaign


def test_it_uses_defaults_without_writing(closed_campaign):
    settings = ReportSettings.for_campaign(closed_campaign)
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


def test_it_shows_settings_in_the_admin(admin_client, closed_campaign):
    campaign = closed_campaign
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


def test_it_lets_researchers_edit_settings_in_the_admin(client, researcher, annotator, closed_campaign):
    campaign = closed_campaign
    client.login(username=researcher.username, password=PASSWORD)
    add = client.get(f"/admin/evaluation/reportsettings/add/?campaign={campaign.pk}")
    assert add.status_code == 200
    response = client.post(
        "/admin/evaluation/reportsettings/add/",
        {"campaign": campaign.pk, "threshold": 4, "tie_policy": "unique_or_none", "inconclusive": "label",
         "max_attention_fail_rate": 0.3, "min_attention_checks": 1, "confidence": 0.9, "target_scheme": "low_active",
         "comparison_schemes": "regular, noisy, random_flip", "endpoint": "consensus_l1", "direction": "greater",
         "family": "all", "alpha": 0.05},
    )
    assert response.status_code == 302
    stored = ReportSettings.objects.get(campaign=campaign)
    assert (stored.threshold, stored.tie_policy, stored.confidence) == (4, "unique_or_none", 0.9)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert f"/admin/evaluation/reportsettings/{stored.pk}/change/" in page
    assert "unique_or_none" in page

    client.logout()
    annotator.is_staff = True  # staff, but not a researcher
    annotator.save()
    client.login(username=annotator.username, password=PASSWORD)
    assert client.get("/admin/evaluation/reportsettings/").status_code == 403


def test_its_confidence_sets_every_interval_and_says_so(db):
    from evaluation.reports import build_report
    from tests.evaluation.builders import set_report_settings

    help_text = ReportSettings._meta.get_field("confidence").help_text
    assert "every interval" in help_text and "bootstrap" in help_text
    rows = [[5, 0, 4, 0], [4, 0, 5, 0], [9, 0, 0, 0], [0, 0, 9, 0]] * 3
    campaign, _ = build_campaign({"regular": rows, "low_active": rows}, make_annotators(9))
    wide = build_report(campaign).schemes[0]
    set_report_settings(campaign, confidence=0.8)
    narrow = build_report(campaign).schemes[0]

    def width(interval):
        return interval.high - interval.low

    for get in (lambda r: r.intervals[0], lambda r: r.fractions.intervals[0], lambda r: r.bootstrap.fractions[0]):
        assert width(get(narrow)) < width(get(wide))
