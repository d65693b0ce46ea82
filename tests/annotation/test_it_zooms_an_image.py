"""Click (or tap) the image, or press Z: it fills the screen, pixels kept square; Esc or a click closes it.
Zooming reuses the image already received, asks the server for nothing and labels nothing."""

from __future__ import annotations

import pytest

from annotation.models import Campaign, Label, Priming
from tests.annotation.browsing import DESKTOP, PHONE, chromium, log_in, new_page
from tests.annotation.conftest import make_pool
from tests.factories import make_annotator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def zoomed_box(page) -> dict:
    """Where the enlarged image's pixels land on screen (object-fit: contain leaves bars on one side)."""
    return page.evaluate("""() => {
        const img = document.getElementById('zoom-image');
        const r = img.getBoundingClientRect();
        const scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
        return {width: img.naturalWidth * scale, height: img.naturalHeight * scale, src: img.src,
                rendering: getComputedStyle(img).imageRendering};
    }""")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_it_zooms_the_image_to_fill_the_screen(live_server, training_folder, size):
    from playwright.sync_api import expect

    viewport = DESKTOP if size == "desktop" else PHONE
    campaign = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    user = make_annotator("bea")
    campaign.annotators.add(user)
    Priming.objects.create(campaign=campaign, annotator=user)

    with chromium() as browser:
        page = new_page(browser, viewport, touch=size == "phone")
        log_in(page, live_server.url, "bea", f"/annotate/{campaign.pk}/")
        page.wait_for_function("document.getElementById('image').naturalWidth > 0 && !document.querySelector('.choice').disabled")
        first = page.locator("#labeler").get_attribute("data-item")
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        zoom = page.locator("#zoom")
        expect(zoom).to_be_hidden()

        if size == "phone":
            page.locator("#image").tap()
        else:
            page.locator("#image").click()
        expect(zoom).to_be_visible()
        box = zoomed_box(page)
        short_side = min(viewport["width"], viewport["height"])
        assert box["width"] == pytest.approx(short_side, abs=1) and box["height"] == pytest.approx(short_side, abs=1)
        assert box["rendering"] == "pixelated"
        assert box["src"] == page.evaluate("document.getElementById('image').src")
        if size == "phone":
            page.locator("#zoom").tap()
            expect(zoom).to_be_hidden()
            assert requests == [] and not Label.objects.exists()
            return

        page.keyboard.press("Escape")
        expect(zoom).to_be_hidden()
        page.keyboard.press("z")
        expect(zoom).to_be_visible()
        page.keyboard.press("Enter")
        page.keyboard.press(" ")
        page.mouse.click(10, 10)
        expect(zoom).to_be_hidden()
        page.keyboard.press("Z")
        expect(zoom).to_be_visible()
        page.keyboard.press("Z")
        expect(zoom).to_be_hidden()
        assert requests == [] and not Label.objects.exists()
        assert page.locator("#labeler").get_attribute("data-item") == first

        # A label key while zoomed labels this image and closes the zoom, so the saved mark can be seen.
        page.keyboard.press("z")
        expect(zoom).to_be_visible()
        page.keyboard.press("4")
        expect(zoom).to_be_hidden()
        expect(page.locator(".choice.saved")).to_have_attribute("data-value", "inconclusive")
        assert list(Label.objects.values_list("item__public_id", "value")) == [(first, "inconclusive")]
