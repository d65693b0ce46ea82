"""A researcher reads the API's documentation page in a real Chromium and tries a call from it."""

from __future__ import annotations

import os

import pytest

from tests.factories import PASSWORD

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("SCREENSHOT_DIR")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_it_shows_the_api_docs(browser, live_server, researcher, viewport):
    from playwright.sync_api import expect

    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(15_000)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/api/docs/")
    page.fill("#id_username", researcher.username)  # the docs are for logged-in users: the login page first
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    # Swagger UI builds the page from the schema in the browser: on a busy machine that takes seconds.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Creative decoder annotation API", timeout=30_000)
    for path in ("/api/campaigns/{id}/labels/", "/api/campaigns/{id}/next/", "/api/labels/"):
        expect(page.locator(f".opblock-summary-path[data-path='{path}']").first).to_be_visible()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/i12-docs-{viewport['width']}.png", full_page=False)

    # Try a call from the page, with the session (and its CSRF token) the page runs in.
    page.locator(".opblock-summary-path[data-path='/api/campaigns/']").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200", timeout=15_000)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/i12-docs-try-{viewport['width']}.png", full_page=False)
    assert outside == []  # Swagger UI's files come from this site (drf-spectacular-sidecar), not a CDN
