"""Input no page can use (a NUL byte, digits that are not ASCII) is refused with a 4xx page, never a 500; the pages
leak nothing to strangers; every page carries a content security policy.

Each case is one that answered 500, or leaked, on a site a panel study was about to be launched on.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from annotation.models import Campaign, Participant, StudyLink
from generation.models import GenerationJob, TrainedModel
from tests.annotation.conftest import make_pool


def assert_html_refusal(response, url: str) -> None:
    assert 400 <= response.status_code < 500, (url, response.status_code)
    assert response["Content-Type"].startswith("text/html"), (url, response["Content-Type"])


@pytest.fixture
def study(db, tmp_path) -> StudyLink:
    from tests.annotation.conftest import make_training_folder

    campaign = Campaign.objects.create(name="Panel", pool=make_pool(make_training_folder(tmp_path)), priming_count=4)
    return StudyLink.objects.create(campaign=campaign)


@pytest.mark.parametrize("path", [
    "/annotate/study/%00/{secret}/?PROLIFIC_PID=abc",
    "/annotate/study/x%00y/z/",
    "/annotate/study/{link}/{secret}/?PROLIFIC_PID=a%00b",
    "/annotate/study/{link}/%00/",
    "/annotate/study/%00/done/",
    "/accounts/login/?next=%00",
])
def test_it_refuses_a_nul_byte_on_public_pages(client, study, path):
    url = path.format(link=study.link_id, secret=study.secret)
    assert_html_refusal(client.get(url), url)
    assert not Participant.objects.exists()


def test_it_answers_head_on_a_study_link(client, study):
    url = reverse("annotation:study", args=[study.link_id, study.secret]) + "?PROLIFIC_PID=abc"
    response = client.head(url)
    assert response.status_code == 200, response.status_code
    assert not Participant.objects.exists()  # a HEAD (a link checker, a preview) makes nothing


@pytest.mark.parametrize("query", ["jobs=%C2%B2", "models=%D9%A1", "builds=%00", "jobs=1,%C2%B2,2"])
def test_the_progress_view_refuses_numbers_it_cannot_read(client, researcher, query):
    client.force_login(researcher)
    url = f"/generation/progress/?{query}"
    response = client.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)
    assert client.get("/generation/progress/?jobs=1,2").status_code == 200


@pytest.mark.parametrize("model", ["annotation/campaign", "generation/generationjob", "generation/trainedmodel"])
@pytest.mark.parametrize("copy_of", ["%C2%B2", "%00", "99999999999999999999", "-1"])
def test_the_admin_copy_link_ignores_a_bad_id(client, researcher, model, copy_of):
    client.force_login(researcher)
    url = f"/admin/{model}/add/?copy_of={copy_of}"
    response = client.get(url)
    assert response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize("url", [
    "/admin/annotation/label/?value__exact=%00",
    "/admin/generation/sample/?scheme__exact=%00",
    "/admin/annotation/participant/?outcome__exact=%00",
    "/admin/annotation/campaign/?q=%00",
    "/admin/annotation/label/?campaign__id__exact=%C2%B2",
    "/admin/generation/trainedmodel/?dataset__exact=a%00b",
])
def test_the_admin_lists_refuse_a_nul_byte_in_a_filter(client, researcher, url):
    client.force_login(researcher)
    response = client.get(url)
    assert response.status_code < 500, (url, response.status_code)


def test_health_names_nothing_to_strangers(client, researcher):
    body = client.get("/health/").content.decode()
    for word in ("postgresql", "vendor", "transport", "redis", "workers", "@"):
        assert word not in body, (word, body)
    client.force_login(researcher)
    detail = client.get("/health/").json()
    assert detail["checks"]["database"]["vendor"] == "postgresql"
    assert "transport" in detail["checks"]["broker"]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_consents_of_one_participant_count_once(tmp_path, settings):
    from tests.annotation.conftest import make_training_folder

    campaign = Campaign.objects.create(name="Panel", pool=make_pool(make_training_folder(tmp_path)), priming_count=4)
    link = StudyLink.objects.create(campaign=campaign)
    url = reverse("annotation:study", args=[link.link_id, link.secret])
    settings.STUDY_ENROL_RATE_PER_IP = "2/h"
    settings.STUDY_ENROL_RATE_PER_LINK = "2/h"
    clients = [Client(REMOTE_ADDR="192.0.2.50") for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    answers: list[int] = []

    def consent(c: Client) -> None:
        barrier.wait()
        answers.append(c.post(url + "?PROLIFIC_PID=SAMEPID").status_code)

    threads = [threading.Thread(target=consent, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Participant.objects.count() == 1 and User.objects.filter(username__startswith="panel-").count() == 1
    # One account resulted, so one enrolment counted: a second participant from the same address still gets in.
    assert Client(REMOTE_ADDR="192.0.2.50").post(url + "?PROLIFIC_PID=OTHERPID").status_code == 302, answers
    assert Participant.objects.count() == 2


def test_generation_rows_for_the_copy_tests_exist(researcher):
    # The copy links above point at real rows too: the view must still fill the form from them.
    model = TrainedModel.objects.create(name="m", dataset="mnist")
    job = GenerationJob.objects.create(trained_model=model, schemes={"regular": {}}, samples_per_scheme=1)
    client = Client()
    client.force_login(researcher)
    page = client.get(f"/admin/generation/generationjob/add/?copy_of={job.pk}")
    assert page.status_code == 200
