"""A researcher plans a campaign's power, opens it, downloads its pre-registration, and reads a report that opens
with the hypothesis and its verdict: in a real Chromium, on a desktop and on a phone."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from annotation.models import Campaign, Label, Participant
from evaluation.models import Registration
from tests.evaluation.builders import LABELS, build_campaign, make_annotators
from tests.evaluation.test_report_in_a_browser import CHROMIUM_ARGS, TASTES, shot
from tests.factories import PASSWORD, make_researcher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(browser, live_server, viewport: dict, next_url: str):
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    return page


def test_it_plans_opens_registers_and_reads_the_verdict(browser, live_server):
    rng = np.random.default_rng(3)
    built, items = build_campaign({s: [[0, 0, 0, 0]] * 20 for s in TASTES}, make_annotators(9))
    raters = make_annotators(9, "panel")
    campaign = Campaign.objects.create(name="Creative decoder, round 2", pool=built.pool, is_open=False)
    campaign.annotators.add(*raters)
    make_researcher("rita")

    page = plan_before_it_opens(browser, live_server, campaign)
    registration = open_and_download_the_registration(page, live_server, campaign)
    # The annotators label (as the API would store it), then the researcher reads the report.
    Label.objects.bulk_create(
        Label(campaign=campaign, item=item, annotator=raters[j], value=LABELS[k], time_spent_ms=900)
        for scheme, scheme_items in items.items() for item in scheme_items
        for j, k in enumerate(rng.choice(4, size=9, p=TASTES[scheme])))
    read_the_verdict(browser, live_server, campaign, registration)
    exclude_by_hand_and_read_again(browser, live_server, campaign, raters)


def plan_before_it_opens(browser, live_server, campaign):
    # Before it opens: the analysis plan on the campaign's page, and the power planner answers.
    page = log_in(browser, live_server, {"width": 1280, "height": 800}, f"/admin/annotation/campaign/{campaign.pk}/change/")
    page.wait_for_selector(".analysis-plan")
    assert "registered when the campaign opens" in page.locator(".analysis-plan").inner_text()
    shot(page, "campaign-admin-desktop")
    page.click("#power-planner-link")
    page.wait_for_selector("#power-answer")
    page.fill("#id_images_per_scheme", "20")
    page.fill("#id_rate_low_active", "0.5")
    page.click("#compute-power")
    page.wait_for_selector("#power-answer")
    answer = page.locator("#power-answer").inner_text()
    assert "With 20 images per scheme, 9 annotators per image" in answer and "the frozen primary test has power" in answer
    shot(page, "power-planner-desktop")
    return page


def open_and_download_the_registration(page, live_server, campaign):
    # It opens (the admin's action): the values are registered, and the pre-registration can be downloaded.
    page.goto(f"{live_server.url}/admin/annotation/campaign/")
    page.check(f"input[name=_selected_action][value='{campaign.pk}']")
    page.select_option("select[name=action]", "open_campaigns")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    registration = Registration.objects.get(campaign=campaign)
    page.goto(f"{live_server.url}/admin/annotation/campaign/{campaign.pk}/change/")
    with page.expect_download() as download:
        page.click("text=(JSON)")
    assert hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest() == registration.sha256
    with page.expect_download() as download:
        page.click("text=Pre-registration (Markdown)")
    assert registration.sha256 in open(download.value.path()).read()
    if os.environ.get("REPORT_SHOTS"):
        download.value.save_as(os.path.join(os.environ["REPORT_SHOTS"], "preregistration.md"))
    page.close()
    return registration


def read_the_verdict(browser, live_server, campaign, registration):
    for name, size in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})):
        page = log_in(browser, live_server, size, f"/reports/{campaign.pk}/")
        page.wait_for_selector("#hypothesis")
        first = page.locator("main h2").first.inner_text()
        assert first.startswith("Primary hypothesis")
        verdict = page.locator("#verdict").inner_text()
        assert verdict.startswith("Verdict: Supported.") or verdict.startswith("Verdict: Not supported.")
        assert page.locator("#snapshot-hash").inner_text() == registration.sha256
        assert page.locator("#snapshot-match").is_visible()
        assert page.locator("#hypothesis").bounding_box()["y"] < page.locator("#primary").bounding_box()["y"]
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"] + 1, width
        shot(page, f"report-hypothesis-{name}")
        page.click("#registration-snapshot >> text=Power planner")
        page.wait_for_selector("#power-answer")
        assert "(registered)" in page.locator(".hypothesis-statement").inner_text()
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"] + 1, width
        shot(page, f"power-planner-{name}")
        page.go_back()
        if os.environ.get("REPORT_SHOTS"):
            page.wait_for_selector("#hypothesis")
            page.locator("#hypothesis").screenshot(path=os.path.join(os.environ["REPORT_SHOTS"],
                                                                     f"hypothesis-{name}.png"))
        page.close()


def exclude_by_hand_and_read_again(browser, live_server, campaign, raters):
    # After reading the report the researcher excludes a panel participant by hand, with a reason: the report then
    # says it came after the report was first opened, and shows the analysis without it beside.
    participant = Participant.objects.create(campaign=campaign, participant_id="PANEL-7", user=raters[7])
    page = log_in(browser, live_server, {"width": 1280, "height": 800},
                  f"/admin/annotation/participant/?campaign__id__exact={campaign.pk}")
    page.wait_for_selector("#result_list")
    page.check("input[name=form-0-excluded]")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")  # no reason: refused, and said why
    assert "Say why" in page.locator(".errorlist").first.inner_text()
    page.fill("input[name=form-0-exclusion_reason]", "rejected on the panel: answers in 1 s")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    shot(page, "participants-admin-desktop")
    participant.refresh_from_db()
    assert participant.excluded and participant.excluded_by.username == "rita"
    page.goto(f"{live_server.url}/reports/{campaign.pk}/")
    page.wait_for_selector("#manual-exclusions")
    assert "after the report was first opened" in page.locator("#manual-exclusions").inner_text()
    assert page.locator("#sensitivity-table td:text-is('rule only')").count() == 1
    if os.environ.get("REPORT_SHOTS"):
        page.locator("#hypothesis").screenshot(path=os.path.join(os.environ["REPORT_SHOTS"],
                                                                 "hypothesis-with-exclusion-desktop.png"))
        page.locator("#sensitivity").screenshot(path=os.path.join(os.environ["REPORT_SHOTS"],
                                                                  "sensitivity-with-exclusion-desktop.png"))
    page.close()
