"""Panel participants through a campaign's study link: consent, one account per participant id, quota, codes,
capacity, revocation, bad ids, rate limits, and an account that can do nothing else."""

from __future__ import annotations

import csv
import io
import itertools
import threading

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from annotation.models import Campaign, CampaignItem, Label, Outcome, Participant, StudyLink
from annotation.services import ensure_slots
from tests.annotation.conftest import make_pool

_addresses = (f"10.{i // 250}.{i % 250}.7" for i in itertools.count(1))


def browser() -> Client:
    """A fresh browser from its own network address (the per-address rate limit is not what these tests are about)."""
    return Client(REMOTE_ADDR=next(_addresses))


@pytest.fixture
def study(pool) -> StudyLink:
    campaign = Campaign.objects.create(name="Panel", pool=pool, priming_count=4, annotators_per_image=3)
    return StudyLink.objects.create(campaign=campaign, quota=5,
                                    completion_url="https://app.prolific.com/submissions/complete?cc={code}")


def link_url(link: StudyLink, pid: str | None = "5f1a2b3c4d5e6f7a8b9c0d1e", **extra) -> str:
    url = reverse("annotation:study", args=[link.link_id, link.secret])
    params = {"PROLIFIC_PID": pid, "STUDY_ID": "study1", "SESSION_ID": "sess1", **extra}
    return url + "?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


def enrol(client: Client, link: StudyLink, pid: str = "5f1a2b3c4d5e6f7a8b9c0d1e"):
    assert client.get(link_url(link, pid)).status_code == 200
    return client.post(link_url(link, pid))


def label_all(client: Client, campaign: Campaign, value: str = "novel") -> list[str]:
    """Prime and label until the API says done; the ids labelled."""
    client.post(reverse("annotation:priming", args=[campaign.pk]))
    seen = []
    answer = client.post(reverse("annotation_api:next", args=[campaign.pk])).json()
    while not answer["done"]:
        seen.append(answer["item"]["id"])
        answer = client.post(reverse("annotation_api:submit", args=[campaign.pk]),
                             {"item": answer["item"]["id"], "value": value, "next": True},
                             content_type="application/json").json()
    return seen


def test_it_enrols_a_prolific_participant_after_consent(study):
    client = browser()
    page = client.get(link_url(study))
    assert page.status_code == 200
    assert "By continuing you agree" in page.content.decode()
    assert not Participant.objects.exists()  # nothing is made before consent

    answer = client.post(link_url(study))
    # Straight on to the instructions and priming images.
    assert answer.status_code == 302 and answer["Location"] == reverse("annotation:priming", args=[study.campaign.pk])
    participant = Participant.objects.get()
    assert (participant.participant_id, participant.study_id, participant.session_id) == (
        "5f1a2b3c4d5e6f7a8b9c0d1e", "study1", "sess1")
    user = participant.user
    assert not user.has_usable_password() and not user.is_staff and user.email == ""
    assert "5f1a2b3c" not in user.username  # pseudonymous: the account does not carry the panel id
    assert list(user.campaigns.all()) == [study.campaign]
    # Next: the instructions and the priming images.
    priming = client.get(reverse("annotation:label", args=[study.campaign.pk]), follow=True)
    assert priming.redirect_chain[-1][0] == reverse("annotation:priming", args=[study.campaign.pk])
    assert "Images the model learned from" in priming.content.decode()


def test_the_same_id_resumes_the_same_account_and_order_from_a_second_browser(study):
    first = browser()
    enrol(first, study)
    campaign = study.campaign
    first.post(reverse("annotation:priming", args=[campaign.pk]))
    item = first.post(reverse("annotation_api:next", args=[campaign.pk])).json()["item"]["id"]
    first.post(reverse("annotation_api:submit", args=[campaign.pk]), {"item": item, "value": "novel"},
               content_type="application/json")
    held = first.post(reverse("annotation_api:next", args=[campaign.pk])).json()["item"]["id"]

    second = browser()
    back = second.get(link_url(study))
    assert back.status_code == 302 and back["Location"] == reverse("annotation:label", args=[campaign.pk])
    assert User.objects.filter(participant__isnull=False).count() == 1
    answer = second.post(reverse("annotation_api:next", args=[campaign.pk])).json()
    assert answer["item"]["id"] == held  # where the first browser stopped, not a new start
    assert answer["progress"] == {"done": 1, "total": 5}


@pytest.mark.django_db(transaction=True)
def test_two_browsers_arriving_at_once_with_one_id_share_one_account(training_folder):
    campaign = Campaign.objects.create(name="Panel", pool=make_pool(training_folder), priming_count=4)
    link = StudyLink.objects.create(campaign=campaign)
    clients = [browser() for _ in range(4)]
    for c in clients:
        c.get(link_url(link, "SAMEPID"))
    barrier = threading.Barrier(len(clients))
    answers = []

    def arrive(c: Client) -> None:
        barrier.wait()
        answers.append(c.post(link_url(link, "SAMEPID")).status_code)

    threads = [threading.Thread(target=arrive, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [302] * 4
    assert Participant.objects.count() == 1
    assert User.objects.filter(username__startswith="panel-").count() == 1


def test_it_stops_at_the_quota_and_gives_the_completion_code(study):
    client = browser()
    enrol(client, study)
    labelled = label_all(client, study.campaign)
    assert len(labelled) == 5 == Label.objects.filter(campaign=study.campaign).count()
    # The labeling page's "done" address is the completion page.
    finish = reverse("annotation:study_finish", args=[study.link_id])
    assert client.get(reverse("annotation:done", args=[study.campaign.pk]))["Location"] == finish
    page = client.get(finish).content.decode()
    assert study.code_completed in page
    assert f"https://app.prolific.com/submissions/complete?cc={study.code_completed}" in page
    participant = Participant.objects.get()
    assert participant.outcome == Outcome.COMPLETED and participant.code_given == study.code_completed
    assert participant.finished_at is not None
    # Coming back with the link shows the same code, and gives no more images.
    again = client.get(link_url(study), follow=True)
    assert study.code_completed in again.content.decode()
    assert client.post(reverse("annotation_api:next", args=[study.campaign.pk])).json()["done"] is True


def test_failing_the_attention_checks_gives_its_own_code(db, training_folder):
    pool = make_pool(training_folder, per_scheme=1, attention_checks=3)
    campaign = Campaign.objects.create(name="Panel", pool=pool, priming_count=4)
    link = StudyLink.objects.create(campaign=campaign, quota=pool.items.count())
    client = browser()
    enrol(client, link)
    label_all(client, campaign, value="creative")  # the checks show training images: "not novel" is expected
    page = client.get(reverse("annotation:study_finish", args=[link.link_id])).content.decode()
    assert link.code_failed_checks in page and link.code_completed not in page
    assert Participant.objects.get().outcome == Outcome.FAILED_CHECKS


def test_a_participant_cannot_take_the_code_before_the_quota(study):
    client = browser()
    enrol(client, study)
    answer = client.get(reverse("annotation:study_finish", args=[study.link_id]))
    assert answer.status_code == 302 and answer["Location"] == reverse("annotation:label", args=[study.campaign.pk])
    assert Participant.objects.get().code_given == ""


def test_a_late_arrival_sees_no_work_left_with_its_code(study, annotator):
    campaign = study.campaign
    ensure_slots(campaign)
    CampaignItem.objects.filter(campaign=campaign).update(labels_count=3)  # every image has its votes
    page = browser().get(link_url(study, "LATECOMER"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "No images left" in text and study.code_no_work in text
    late = Participant.objects.get(participant_id="LATECOMER")
    assert late.user is None and late.outcome == Outcome.NO_WORK and late.code_given == study.code_no_work
    study.refresh_from_db()
    assert study.full_since is not None  # the link closed itself
    assert browser().post(link_url(study, "ANOTHER")).status_code == 200  # the consent button: the same page
    assert not User.objects.filter(username__startswith="panel-").exists()


def test_revoking_stops_new_and_returning_participants_at_once(study):
    client = browser()
    enrol(client, study)
    campaign = study.campaign
    client.post(reverse("annotation:priming", args=[campaign.pk]))
    assert client.post(reverse("annotation_api:next", args=[campaign.pk])).status_code == 200
    StudyLink.objects.filter(pk=study.pk).update(is_active=False)

    answer = client.post(reverse("annotation_api:next", args=[campaign.pk]))
    assert answer.status_code == 409 and answer.json()["error"] == "campaign_closed"  # the page reloads on it
    for url in (reverse("annotation:label", args=[campaign.pk]), reverse("annotation:priming", args=[campaign.pk])):
        assert client.get(url).status_code == 410
    for who in (client, browser()):
        page = who.get(link_url(study))
        assert page.status_code == 410 and "This study is closed" in page.content.decode()
    new = browser()
    assert new.get(link_url(study, "NEWCOMER")).status_code == 410
    assert new.post(link_url(study, "NEWCOMER")).status_code == 410
    assert Participant.objects.count() == 1
    StudyLink.objects.filter(pk=study.pk).update(is_active=True)  # reactivated: the same participant goes on
    assert client.post(reverse("annotation_api:next", args=[campaign.pk])).status_code == 200


@pytest.mark.parametrize("pid", [None, "", "a" * 65, "<script>", "a b", "pid%0A1", "ünï", "x;drop"])
def test_it_refuses_a_bad_participant_id(study, pid):
    client = browser()
    for method in (client.get, client.post):
        answer = method(link_url(study, pid))
        assert answer.status_code == 400
        assert "This link does not work" in answer.content.decode()
    assert not Participant.objects.exists() and not User.objects.filter(username__startswith="panel-").exists()


def test_it_refuses_a_bad_study_id_and_a_wrong_secret(study):
    assert browser().get(link_url(study, STUDY_ID="a/b")).status_code == 400
    wrong = reverse("annotation:study", args=[study.link_id, study.secret[:-1] + "x"]) + "?PROLIFIC_PID=abc"
    assert browser().get(wrong).status_code == 404
    unknown = reverse("annotation:study", args=["nosuchlink", study.secret]) + "?PROLIFIC_PID=abc"
    assert browser().get(unknown).status_code == 404
    assert not Participant.objects.exists()


def test_mturk_names_and_a_custom_parameter(pool):
    campaign = Campaign.objects.create(name="Panel", pool=pool, priming_count=4)
    link = StudyLink.objects.create(campaign=campaign, panel="mturk", session_param="sid")
    url = reverse("annotation:study", args=[link.link_id, link.secret]) + "?workerId=A1B2C3&assignmentId=X9&sid=s-1"
    client = browser()
    client.get(url)
    assert client.post(url).status_code == 302
    p = Participant.objects.get()
    assert (p.participant_id, p.study_id, p.session_id) == ("A1B2C3", "X9", "s-1")


def test_none_mode_asks_for_nothing_and_keeps_one_participant_per_browser(pool):
    campaign = Campaign.objects.create(name="Panel", pool=pool, priming_count=4)
    link = StudyLink.objects.create(campaign=campaign, panel="none")
    url = reverse("annotation:study", args=[link.link_id, link.secret])
    one, two = browser(), browser()
    for c in (one, two):
        assert c.get(url).status_code == 200
        assert c.post(url).status_code == 302
    assert one.get(url).status_code == 302  # back in the same account
    assert Participant.objects.count() == 2


def test_it_limits_new_accounts_per_address_and_per_link(study):
    with override_settings(STUDY_ENROL_RATE_PER_IP="3/h"):
        same_address = [Client(REMOTE_ADDR="192.0.2.77") for _ in range(5)]
        codes = [c.post(link_url(study, f"PID{i}")).status_code for i, c in enumerate(same_address)]
        assert "Please wait a moment" in same_address[-1].post(link_url(study, "PID4")).content.decode()
    assert codes == [302, 302, 302, 429, 429]
    with override_settings(STUDY_ENROL_RATE_PER_LINK="2/h"):  # each from another address
        codes = [browser().post(link_url(study, f"OTHER{i}")).status_code for i in range(4)]
    assert codes == [302, 302, 429, 429]
    assert Participant.objects.count() == 5
    # A returning participant is not a new account: never limited.
    with override_settings(STUDY_ENROL_RATE_PER_IP="1/h", STUDY_ENROL_RATE_PER_LINK="1/h"):
        assert Client(REMOTE_ADDR="192.0.2.77").get(link_url(study, "PID0")).status_code == 302


def test_a_participant_account_can_do_nothing_else(study, pool):
    client = browser()
    enrol(client, study)
    campaign = study.campaign
    other = Campaign.objects.create(name="Other", pool=pool)
    other.annotators.add(Participant.objects.get().user)  # even if someone added it elsewhere
    for url in ["/admin/", "/reports/", f"/reports/{campaign.pk}/", "/generation/", "/api/campaigns/", "/api/labels/",
                f"/annotate/{other.pk}/", f"/annotate/{other.pk}/priming/", f"/api/campaigns/{other.pk}/next/",
                "/api/schema/", "/health/"]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/campaigns/{other.pk}/next/").status_code == 404
    assert client.get("/")["Location"] == reverse("annotation:label", args=[campaign.pk])
    assert client.get(reverse("annotation:priming", args=[campaign.pk])).status_code == 200
    assert client.get("/favicon.ico").status_code == 200


def test_an_active_link_opens_enrolment_for_the_settings_checks(pool):
    campaign = Campaign.objects.create(name="Panel", pool=pool, annotators_per_image=9)
    assert campaign.enrolment_limit() == 0 and "annotators" in campaign.settings_problems()
    link = StudyLink.objects.create(campaign=campaign)
    assert campaign.enrolment_limit() is None and campaign.settings_problems() == {}
    link.is_active = False
    link.save()
    assert campaign.enrolment_limit() == 0


def test_the_researcher_sees_participants_and_downloads_them(study, researcher):
    client = browser()
    enrol(client, study)
    label_all(client, study.campaign)
    client.get(reverse("annotation:study_finish", args=[study.link_id]))
    browser().post(link_url(study, "=cmd"))  # a formula-looking id is refused, so never reaches a CSV

    rita = Client()
    rita.force_login(researcher)
    page = rita.get(reverse("evaluation:participants", args=[study.campaign.pk])).content.decode()
    assert "5f1a2b3c4d5e6f7a8b9c0d1e" in page and study.code_completed in page
    answer = rita.get(reverse("evaluation:download", args=[study.campaign.pk, "participants"]))
    assert answer["Content-Disposition"] == f'attachment; filename="campaign-{study.campaign.pk}-participants.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["participant_id"] == "5f1a2b3c4d5e6f7a8b9c0d1e" and row["study_id"] == "study1"
    assert row["labels_with_checks"] == "5" and row["outcome"] == "completed" and row["completion_code"] == study.code_completed
    assert row["excluded"] == "false" and float(row["median_time_ms"]) >= 0
    # The admin shows the link to copy, and the dashboard a line on the participants.
    change = rita.get(reverse("admin:annotation_campaign_change", args=[study.campaign.pk])).content.decode()
    assert "Link to give the panel" in change
    assert (f"/annotate/study/{study.link_id}/{study.secret}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&amp;"
            "STUDY_ID={{%STUDY_ID%}}&amp;SESSION_ID={{%SESSION_ID%}}") in change
    index = rita.get(reverse("admin:index")).content.decode()
    assert "1 started · 1 finished · 0 failed checks · 0 found no work" in index
    # Anyone else learns nothing.
    assert client.get(reverse("evaluation:participants", args=[study.campaign.pk])).status_code == 404


def test_excluding_a_participant_leaves_them_out_of_the_report(study):
    from evaluation.reports import build_report

    client = browser()
    enrol(client, study)
    label_all(client, study.campaign)
    Participant.objects.update(excluded=True)
    report = build_report(study.campaign)
    assert len(report.excluded) == 1
    assert all(a.excluded for a in report.annotators)


def test_a_researcher_adds_a_study_link_to_a_campaign_without_annotators(pool, researcher):
    rita = Client()
    rita.force_login(researcher)
    form = {"name": "Panel round", "pool": pool.pk, "annotators_per_image": 9, "instructions": "<p>Look.</p>",
            "priming_count": 4, "is_open": "on", "claim_timeout_seconds": 600,
            "study_link-TOTAL_FORMS": "1", "study_link-INITIAL_FORMS": "0",
            "study_link-0-is_active": "on", "study_link-0-panel": "prolific", "study_link-0-quota": "50",
            "study_link-0-consent": "<p>Agree?</p><script>alert(1)</script>", "study_link-0-completion_url": "",
            "study_link-0-code_completed": "C1", "study_link-0-code_failed_checks": "C2",
            "study_link-0-code_no_work": "C3", "study_link-0-participant_param": "", "study_link-0-study_param": "",
            "study_link-0-session_param": ""}
    answer = rita.post(reverse("admin:annotation_campaign_add"), form)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    link = StudyLink.objects.get()
    assert link.campaign.annotators.count() == 0 and link.parameters() == ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
    assert "<script>" not in link.consent_html and "<p>Agree?</p>" in link.consent_html
    # Without the link (no annotators either) the same campaign is refused, as before.
    form.update({"name": "No panel", "study_link-TOTAL_FORMS": "0"})
    answer = rita.post(reverse("admin:annotation_campaign_add"), form)
    assert answer.status_code == 200 and "0 annotators take part" in answer.content.decode()


def test_a_participant_can_open_another_studys_link(study, pool):
    client = browser()
    enrol(client, study)
    other = StudyLink.objects.create(campaign=Campaign.objects.create(name="Second", pool=pool, priming_count=4))
    assert enrol(client, other, "5f1a2b3c4d5e6f7a8b9c0d1e").status_code == 302
    assert Participant.objects.filter(participant_id="5f1a2b3c4d5e6f7a8b9c0d1e").count() == 2
    assert client.get(reverse("annotation:label", args=[study.campaign.pk])).status_code == 404  # now the second
    assert client.get(reverse("annotation:priming", args=[other.campaign.pk])).status_code == 200


def test_late_arrivals_are_listed_within_the_rate_limits(study):
    ensure_slots(study.campaign)
    CampaignItem.objects.filter(campaign=study.campaign).update(labels_count=3)
    with override_settings(STUDY_ENROL_RATE_PER_IP="2/h"):
        pages = [Client(REMOTE_ADDR="192.0.2.90").get(link_url(study, f"LATE{i}")) for i in range(4)]
    assert all(p.status_code == 200 and study.code_no_work in p.content.decode() for p in pages)
    assert Participant.objects.count() == 2  # the page still shows the code; the list does not grow without bound


def test_a_campaign_closed_mid_way_sends_participants_to_their_code(study):
    client = browser()
    enrol(client, study)
    campaign = study.campaign
    client.post(reverse("annotation:priming", args=[campaign.pk]))
    item = client.post(reverse("annotation_api:next", args=[campaign.pk])).json()["item"]["id"]
    client.post(reverse("annotation_api:submit", args=[campaign.pk]), {"item": item, "value": "novel"},
                content_type="application/json")
    Campaign.objects.filter(pk=campaign.pk).update(is_open=False)
    page = client.get(reverse("annotation:label", args=[campaign.pk]), follow=True)
    assert study.code_completed in page.content.decode()  # they did the work that was offered


def test_participants_join_their_labels_by_pseudonym_and_every_count_says_what_it_counts(study, researcher):
    campaign = study.campaign
    client = browser()
    enrol(client, study)
    label_all(client, campaign)
    client.get(reverse("annotation:study_finish", args=[study.link_id]))
    rita = Client()
    rita.force_login(researcher)

    def download(kind: str) -> list[dict]:
        answer = rita.get(reverse("evaluation:download", args=[campaign.pk, kind]))
        return list(csv.DictReader(io.StringIO(answer.content.decode())))

    participant, = download("participants")
    labels, annotators = download("labels"), download("annotators")
    annotator, = annotators
    assert participant["annotator"] == annotator["annotator"] == labels[0]["annotator"]
    assert {r["annotator"] for r in labels} == {participant["annotator"]}
    # The same participant, the same counts, each named for whether it holds the attention checks.
    checks = int(participant["attention_seen"])
    assert int(participant["labels_with_checks"]) == int(annotator["labels_with_checks"]) == len(labels) == 5
    assert int(participant["labels_without_checks"]) == int(annotator["labels_without_checks"]) == 5 - checks
    for row in (participant, annotator):
        assert "fast_labels" in row and "labels" not in row
    # The report leads to the participants page, whose table says what its label count holds.
    report = rita.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert reverse("evaluation:participants", args=[campaign.pk]) in report
    page = rita.get(reverse("evaluation:participants", args=[campaign.pk])).content.decode()
    assert "attention checks included" in page and participant["annotator"] in page
