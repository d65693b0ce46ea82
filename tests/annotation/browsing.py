"""Helpers for the annotator's browser tests: a Chromium per test, a page per screen size, a logged-in annotator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tests.factories import PASSWORD

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, viewport: dict | None = None, *, touch: bool = False):
    """A page in its own context; `touch` emulates a phone's touch screen (a coarse pointer)."""
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval, which the site's policy forbids;
    # the policy has its own browser test (tests/foundation/test_it_keeps_a_content_security_policy.py).
    context = browser.new_context(viewport=viewport or DESKTOP, has_touch=touch, is_mobile=touch, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if touch:
        # Touch emulation alone leaves `(pointer: fine)` in force on a desktop Chromium: say what a phone says.
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setEmulatedMedia", {"features": [{"name": "pointer", "value": "coarse"},
                                                             {"name": "any-pointer", "value": "coarse"},
                                                             {"name": "hover", "value": "none"}]})
    return page


def log_in(page, base_url: str, username: str, next_path: str = "/") -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth")


def shot(page, name: str) -> None:
    """A screenshot named $BROWSER_SHOTS<name>.png (when that is set), to look at the pages as a person would."""
    prefix = os.environ.get("BROWSER_SHOTS")
    if prefix:
        page.screenshot(path=f"{prefix}{name}.png", full_page=True)
