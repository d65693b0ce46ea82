"""A researcher reads a report in a real Chromium, on a desktop and on a phone."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.evaluation.builders import build_campaign, make_annotators, set_report_settings
from tests.factories import PASSWORD, make_researcher

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TASTES = {"regular": [0.05, 0.1, 0.8, 0.05], "noisy": [0.05, 0.12, 0.78, 0.05],
          "random_flip": [0.15, 0.25, 0.45, 0.15], "low_active": [0.35, 0.3, 0.2, 0.15]}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    """Screenshots for a person to look at, where REPORT_SHOTS names a folder."""
    folder = os.environ.get("REPORT_SHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def open_report(browser, live_server, campaign, viewport: dict):
    """A page in a window of `viewport`, logged in as the researcher "rita" and on its way to the campaign's report."""
    page = browser.new_page(viewport=viewport, bypass_csp=True)  # wait_for_function uses eval: the policy forbids it
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/?next=/reports/{campaign.pk}/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    return page


def test_it_reads_the_report_on_a_desktop_and_a_phone(browser, live_server):
    rng = np.random.default_rng(0)
    votes = {s: [rng.multinomial(9, p).tolist() for _ in range(12)] for s, p in TASTES.items()}
    campaign, _ = build_campaign(votes, make_annotators(9), attention=[["not_novel"] * 9])
    set_report_settings(campaign, inconclusive="abstain")
    make_researcher("rita")
    for name, size in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page = open_report(browser, live_server, campaign, size)
        page.wait_for_selector("#sensitivity-table")
        # The primary analysis comes first and says it was registered; the sensitivity table is marked secondary.
        primary = page.locator("#primary").bounding_box()
        sensitivity = page.locator("#sensitivity").bounding_box()
        assert primary["y"] < sensitivity["y"]
        assert "Pre-registered" in page.locator("#registration").inner_text()
        assert page.locator("#sensitivity .secondary-tag").is_visible()
        assert page.locator("#sensitivity-table tbody tr").count() == 6
        # Kappa is left out under abstain (images with an L4 vote have fewer votes) and says why.
        assert "with all 9 votes" in page.locator("#agreement").inner_text()
        # The page itself never scrolls sideways: wide tables scroll inside their own box.
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"] + 1, width
        if name == "desktop":  # and in a 1280-pixel window no table needs its box's scrolling either
            assert wide_tables(page) == []
        shot(page, f"report-{name}")
        page.close()


def wide_tables(page) -> list[str]:
    """'<table id> <width>' of each table wider than its scrolling box."""
    return page.evaluate("[...document.querySelectorAll('.report .scroll')]"
                         ".filter(box => box.scrollWidth > box.clientWidth + 1)"
                         ".map(box => `${box.querySelector('table').id} ${box.scrollWidth} > ${box.clientWidth}`)")


def test_it_shows_the_surrogate_metrics_and_the_gallery(browser, live_server):
    import io

    from django.core.files.base import ContentFile
    from PIL import Image

    from generation.models import Sample

    rng = np.random.default_rng(1)
    votes = {s: [rng.multinomial(9, p).tolist() for _ in range(12)] for s, p in TASTES.items()}
    campaign, items = build_campaign(votes, make_annotators(9), attention=[["not_novel"] * 9])
    for scheme, scheme_items in items.items():
        for item in scheme_items if scheme != "attention_check" else ():
            pixels = (rng.random((28, 28)) < 0.3).astype(np.uint8) * 255
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
            sample = Sample.objects.get(pk=item.sample_id)
            sample.dr_amortised, sample.dr_optimised = float(rng.gamma(2.0)), float(rng.gamma(1.0))
            sample.image.save(f"{item.public_id}.png", ContentFile(buffer.getvalue()))
    make_researcher("rita")
    for name, size in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page = open_report(browser, live_server, campaign, size)
        page.wait_for_selector("#metric-auc")
        assert page.locator("#metric-auc tbody tr").count() == 2  # the two metrics these samples carry
        assert "classifier entropy" in page.locator("#metrics-not-stored").inner_text()
        assert page.locator("#metric-means tbody tr").count() == 2 + 2  # the shares, then the two metrics
        gallery = page.locator("#gallery-low_active .gallery.creative img")
        assert 0 < gallery.count() <= 8
        page.locator("#gallery").scroll_into_view_if_needed()
        page.wait_for_function("[...document.querySelectorAll('#gallery img')].every(i => i.complete)")
        # Every gallery image loads, 28 x 28 drawn pixel for pixel.
        sizes = page.evaluate("[...document.querySelectorAll('#gallery img')].map(i => i.naturalWidth)")
        assert sizes and set(sizes) == {28}, sizes
        assert gallery.first.evaluate("i => getComputedStyle(i).imageRendering") == "pixelated"
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"] + 1, width
        shot(page, f"report-gallery-{name}")
        if os.environ.get("REPORT_SHOTS"):
            for section in ("surrogates", "gallery"):
                page.locator(f"#{section}").screenshot(path=os.path.join(os.environ["REPORT_SHOTS"],
                                                                         f"report-{section}-{name}.png"))
        page.close()


def test_the_per_scheme_means_fit_a_desktop_window_with_every_metric(browser, live_server):
    """With all eight metrics stored, the means table is read without scrolling sideways: one row per metric."""
    from evaluation.reports import METRICS
    from generation.models import Sample

    rng = np.random.default_rng(2)
    votes = {s: [rng.multinomial(9, p).tolist() for _ in range(6)] for s, p in TASTES.items()}
    campaign, items = build_campaign(votes, make_annotators(9))
    for scheme_items in items.values():
        for item in scheme_items:
            Sample.objects.filter(pk=item.sample_id).update(**{name: float(rng.gamma(2.0)) for name, _ in METRICS})
    make_researcher("rita")
    page = open_report(browser, live_server, campaign, {"width": 1280, "height": 900})
    page.wait_for_selector("#metric-means")
    assert page.locator("#metric-auc tbody tr").count() == len(METRICS)
    # Two rows of consensus shares, then one per metric; one column per scheme.
    assert page.locator("#metric-means tbody tr").count() == 2 + len(METRICS)
    assert page.locator("#metric-means thead th").all_inner_texts()[1:] == list(TASTES)
    box = page.locator("#metric-means").evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert box[0] <= box[1], box
    page.close()


def test_it_shows_the_difference_intervals_and_the_within_scheme_aucs(browser, live_server):
    """A campaign full of labels, every metric stored: the difference of L1 shares with its interval, the pooled and
    within-scheme AUCs each with theirs, readable on a desktop and on a phone without the page scrolling sideways."""
    from evaluation.reports import METRICS
    from generation.models import Sample

    rng = np.random.default_rng(3)
    votes = {s: [rng.multinomial(9, p).tolist() for _ in range(30)] for s, p in TASTES.items()}
    campaign, items = build_campaign(votes, make_annotators(9), attention=[["not_novel"] * 9])
    for scheme, scheme_items in items.items():
        for item, row in zip(scheme_items, votes.get(scheme, ()), strict=False):
            # The metrics follow the image's L1 votes loosely, so the AUCs are away from 0.5.
            Sample.objects.filter(pk=item.sample_id).update(
                **{name: float(row[0] + rng.gamma(2.0)) for name, _ in METRICS})
    make_researcher("rita")
    for name, size in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})):
        page = open_report(browser, live_server, campaign, size)
        page.wait_for_selector("#metric-auc")
        differences = page.locator("#tests tbody td.difference").all_inner_texts()
        assert len(differences) == 3 and all("pts" in d and "[" in d for d in differences), differences
        assert "images and annotators crossed" in page.locator("#tests thead").inner_text()
        cells = page.locator("#metric-auc .auc-within")
        assert cells.count() == 2 * len(METRICS)
        assert all("within scheme" in t and "[" in t for t in cells.all_inner_texts())
        # The headline figures are in the window without scrolling the tables sideways.
        for figure in ("#tests td.difference", "#metric-auc .auc-within"):
            box = page.locator(figure).first.bounding_box()
            assert box["x"] + box["width"] <= size["width"], (figure, box)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"] + 1, width
        shot(page, f"crossed-{name}")
        if os.environ.get("REPORT_SHOTS"):
            for section in ("tests", "summary", "metric-auc", "dawid-skene"):
                page.locator(f"#{section}").scroll_into_view_if_needed()  # what the window shows there
                page.screenshot(path=os.path.join(os.environ["REPORT_SHOTS"], f"crossed-{section}-{name}.png"))
        page.close()
