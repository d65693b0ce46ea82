"""Every page carries a Content-Security-Policy and a Permissions-Policy, and no page breaks it: in a real Chromium,
a participant from a panel link (phone and desktop) and a researcher (admin, report with its chart, API docs) go
through their pages, and the browser reports no violation."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from django.urls import reverse

from annotation.models import Campaign, StudyLink
from tests.annotation.browsing import CHROMIUM_ARGS, DESKTOP, PHONE
from tests.annotation.conftest import make_pool, training_folder  # noqa: F401  (a fixture)
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD, make_researcher

SHOTS = os.environ.get("CSP_SHOTS")  # a folder: screenshots of every page walked, for a person to look at

# Recorded in the page before any of its scripts run: the browser's own report of each blocked resource.
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"""


def test_every_page_sends_the_policies(client, researcher):
    client.force_login(researcher)
    for url in ("/accounts/login/", "/admin/", "/reports/", "/health/", "/api/campaigns/"):
        response = client.get(url)
        policy = response.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, (url, policy)
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], policy
        assert "camera=()" in response.get("Permissions-Policy", ""), url


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Walk:
    """One browser context: every console message about a refused resource or a policy header the browser cannot
    read, and every violation event."""

    def __init__(self, chromium, viewport: dict, name: str) -> None:
        self.context = chromium.new_context(viewport=viewport)
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.name = name
        self.refused: list[str] = []
        self.page.on("console", lambda m: self.refused.append(f"{self.page.url}: {m.text}")
                     if any(w in m.text for w in ("Refused to", "Content Security Policy", "Permissions-Policy"))
                     else None)

    def check(self, label: str) -> None:
        self.page.wait_for_load_state("load")
        violations = self.page.evaluate("window.__violations")
        self.refused += [f"{self.page.url}: {v}" for v in violations]
        if SHOTS:
            self.page.screenshot(path=os.path.join(SHOTS, f"{self.name}-{label}.png"), full_page=True)
        assert self.refused == [], self.refused




@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_participant_meets_no_violation(chromium, live_server, training_folder, viewport):  # noqa: F811
    from playwright.sync_api import expect

    campaign = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=2), priming_count=4,
                                       instructions="<p>Look <em>closely</em>.</p>")
    link = StudyLink.objects.create(campaign=campaign, quota=3)
    walk = Walk(chromium, viewport, f"participant-{viewport['width']}")
    page = walk.page
    page.goto(f"{live_server.url}{reverse('annotation:study', args=[link.link_id, link.secret])}?PROLIFIC_PID=p1")
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    walk.check("1-consent")
    # The first visit builds the priming grid with creative_core: allow it time.
    page.get_by_role("button", name="I agree: continue").click(no_wait_after=True)
    expect(page.locator("img.priming-grid")).to_be_visible(timeout=90_000)
    assert page.evaluate("document.querySelector('img.priming-grid').naturalWidth") > 0  # the inline grid drew
    walk.check("2-priming")
    page.get_by_role("button", name="I have studied them: start labeling").click()
    expect(page.locator("#progress-text")).to_have_text("0 / 3")
    # Waits by locators only: wait_for_function evaluates with eval, which this policy (rightly) refuses.
    expect(page.locator("#image")).to_have_attribute("src", re.compile(r"^data:image/png"))
    expect(page.locator(".choice").first).to_be_enabled()
    assert page.evaluate("document.querySelector('#image').naturalWidth") > 0
    walk.check("3-labeling")
    page.locator("#zoom-open").click()
    expect(page.locator("#zoom")).to_be_visible()
    walk.check("4-zoom")
    page.keyboard.press("Escape")
    for done in range(1, 4):
        expect(page.locator(".choice").first).to_be_enabled()
        page.keyboard.press("2")
        if done < 3:
            expect(page.locator("#progress-text")).to_have_text(f"{done} / 3")
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    walk.check("5-code")
    walk.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_researcher_meets_no_violation(chromium, live_server, viewport):
    from playwright.sync_api import expect

    rng = np.random.default_rng(0)
    votes = {s: [rng.multinomial(9, [0.3, 0.3, 0.3, 0.1]).tolist() for _ in range(4)]
             for s in ("regular", "noisy", "random_flip", "low_active")}
    campaign, _ = build_campaign(votes, make_annotators(9), attention=[["not_novel"] * 9])
    researcher = make_researcher("rita")
    walk = Walk(chromium, viewport, f"researcher-{viewport['width']}")
    page = walk.page
    page.goto(f"{live_server.url}/accounts/login/?next=/admin/")
    page.fill("#id_username", researcher.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#site-name")).to_be_visible()
    walk.check("1-admin")
    page.goto(f"{live_server.url}/admin/annotation/campaign/{campaign.pk}/change/")
    expect(page.locator("#campaign_form")).to_be_visible()
    walk.check("2-campaign")
    page.goto(f"{live_server.url}/admin/annotation/label/?value__exact=novel")
    expect(page.locator("#result_list")).to_be_visible()
    walk.check("3-labels")
    page.goto(f"{live_server.url}/admin/generation/sample/?scheme__exact=noisy")
    expect(page.locator("#result_list")).to_be_visible()
    walk.check("3b-samples")
    job = campaign.pool.job
    page.goto(f"{live_server.url}/admin/generation/generationjob/{job.pk}/change/")
    expect(page.locator("#generationjob_form")).to_be_visible()
    walk.check("4-job")
    page.goto(f"{live_server.url}/reports/{campaign.pk}/")
    expect(page.locator("figure svg").first).to_be_visible()
    walk.check("5-report")
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Creative decoder annotation API",
                                                                     timeout=30_000)
    walk.check("6-api-docs")
    walk.context.close()
