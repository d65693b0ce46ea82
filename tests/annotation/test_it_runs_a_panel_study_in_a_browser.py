"""A Prolific participant in a real Chromium: the study link, consent, instructions and priming, labeling with the
quota as progress, leaving half-way and coming back in another browser, then the completion code and the redirect
to Prolific's completion URL."""

from __future__ import annotations

import os

import pytest

from annotation.models import Campaign, Label, Outcome, Participant, StudyLink
from tests.annotation.browsing import CHROMIUM_ARGS
from tests.annotation.conftest import make_pool

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROLIFIC = "https://app.prolific.com/submissions/complete"


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(chromium):
    context = chromium.new_context(bypass_csp=True)  # wait_for_function evaluates with eval: the policy forbids it
    page = context.new_page()
    page.set_default_timeout(15_000)
    # Prolific itself is not reachable from a test: answer its completion page here and note the visit.
    page.route(f"{PROLIFIC}**", lambda route: route.fulfill(status=200, content_type="text/html",
                                                              body="<h1>Prolific: submission complete</h1>"))
    return context, page


def label(page, how_many: int, quota: int, start: int = 0) -> None:
    from playwright.sync_api import expect

    progress = page.locator("#progress-text")
    for done in range(start + 1, start + how_many + 1):
        page.wait_for_function("!document.querySelector('.choice').disabled")
        page.keyboard.press("3")
        if done < quota:
            expect(progress).to_have_text(f"{done} / {quota}")


def test_a_prolific_participant_goes_from_the_link_to_the_completion_code(chromium, live_server, training_folder):
    from playwright.sync_api import expect

    pool = make_pool(training_folder, per_scheme=2, attention_checks=1)
    campaign = Campaign.objects.create(name="Digits", pool=pool, priming_count=4, instructions="<p>Look closely.</p>")
    link = StudyLink.objects.create(campaign=campaign, quota=4, completion_url=PROLIFIC + "?cc={code}",
                                    consent="<p>We keep your Prolific id and your labels.</p>")
    pid = "5f0c2a9e8b7d6c5b4a392817"
    url = (f"{live_server.url}/annotate/study/{link.link_id}/{link.secret}/"
           f"?PROLIFIC_PID={pid}&STUDY_ID=60aa11bb22cc33dd44ee55ff&SESSION_ID=sess7")

    context, page = new_page(chromium)
    page.goto(url)
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    expect(page.get_by_text("We keep your Prolific id and your labels.")).to_be_visible()
    page.get_by_role("button", name="I agree: continue").click()
    # Instructions and priming (the first visit builds the grid with creative_core: allow it time).
    expect(page.locator("img.priming-grid")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Look closely.")).to_be_visible()
    page.get_by_role("button", name="I have studied them: start labeling").click()
    expect(page.locator("#progress-text")).to_have_text("0 / 4")  # the quota, not the pool
    label(page, 2, quota=4)
    participant = Participant.objects.get()
    assert Label.objects.filter(annotator=participant.user).count() == 2
    context.close()  # the participant leaves half-way

    # ... and comes back in another browser, with the same link: the same account, where they stopped.
    context, page = new_page(chromium)
    page.goto(url)
    expect(page.locator("#progress-text")).to_have_text("2 / 4")
    label(page, 2, quota=4, start=2)
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.locator("#code")).to_have_text(link.code_completed)
    page.wait_for_url(f"{PROLIFIC}?cc={link.code_completed}", timeout=20_000)
    expect(page.get_by_role("heading", name="Prolific: submission complete")).to_be_visible()
    context.close()

    assert Participant.objects.count() == 1
    participant.refresh_from_db()
    assert participant.outcome == Outcome.COMPLETED and participant.code_given == link.code_completed
    assert Label.objects.filter(annotator=participant.user).count() == 4
