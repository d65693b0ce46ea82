"""The admin is the researchers' whatever model permissions their accounts hold; nobody else's."""

import pytest
from django.urls import reverse

CHANGELISTS = [
    "admin:generation_trainedmodel_changelist",
    "admin:generation_generationjob_changelist",
    "admin:generation_samplepool_changelist",
    "admin:annotation_campaign_changelist",
    "admin:annotation_label_changelist",
    "admin:evaluation_reportsettings_changelist",
]


@pytest.mark.parametrize("name", CHANGELISTS)
def test_it_opens_every_app_admin_to_a_researcher(client, researcher, name):
    assert not researcher.user_permissions.exists()  # the role alone opens the admin
    client.force_login(researcher)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", CHANGELISTS)
def test_it_keeps_annotators_out_of_the_admin(client, annotator, name):
    client.force_login(annotator)
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
