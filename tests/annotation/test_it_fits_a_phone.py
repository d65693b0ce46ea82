"""Every page an annotator meets, on a phone (390x844) and a laptop: nothing scrolls sideways, no request fails
(the favicon included), and a touch screen shows no keyboard hints."""

from __future__ import annotations

import pytest

from annotation import services
from annotation.models import Campaign, Label, Priming
from tests.annotation.browsing import DESKTOP, PHONE, chromium, log_in, new_page, overflow, shot
from tests.annotation.conftest import make_pool
from tests.factories import make_annotator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "Fashion-MNIST pilot, second wave (annotators from the lab)"


def visible(page, selector: str) -> list[bool]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')")


@pytest.mark.parametrize("size", ["phone", "narrow", "desktop"])
def test_it_fits_every_page_without_sideways_scrolling(live_server, training_folder, size):
    from playwright.sync_api import expect

    # "narrow": a phone-wide window with a mouse and keyboard, so the key hints take their room too.
    viewport = DESKTOP if size == "desktop" else PHONE
    user = make_annotator("bartholomew.longname")
    campaign = Campaign.objects.create(name=LONG_NAME, pool=make_pool(training_folder, per_scheme=1, attention_checks=0),
                                       priming_count=9, instructions="<p>Judge each image against the training images: "
                                       "is it new (novel), and is it still a meaningful digit or garment (creative)?</p>")
    finished = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    closed = Campaign.objects.create(name="Old study", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    for c in (campaign, finished, closed):
        c.annotators.add(user)
    for c in (finished, closed):
        Priming.objects.create(campaign=c, annotator=user)
        while (item := services.next_item(c, user)) is not None:
            services.submit_label(c, user, item.public_id, "novel")
    Campaign.objects.filter(pk=closed.pk).update(is_open=False)

    with chromium() as browser:
        page = new_page(browser, viewport, touch=size == "phone")
        failures: list[str] = []
        page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 and r.status != 410 else None)
        favicons: list[int] = []
        page.on("response", lambda r: favicons.append(r.status) if "favicon" in r.url else None)
        walked: dict[str, int] = {}

        def check(name: str) -> None:
            page.wait_for_load_state("load")
            walked[name] = overflow(page)
            shot(page, f"{size}-{name}")

        log_in(page, live_server.url, user.username, "/annotate/")
        check("index")
        expect(page.locator(".campaign")).to_have_count(3)

        page.get_by_role("link", name="Start").click()
        # The first visit builds the priming grid with creative_core (importing torch): allow it time.
        page.locator("img.priming-grid").wait_for(timeout=90_000)
        page.wait_for_function("document.querySelector('img.priming-grid').naturalWidth > 0", timeout=90_000)
        check("priming")
        page.locator("#start").click()
        page.wait_for_function("document.getElementById('image').naturalWidth > 0 && !document.querySelector('.choice').disabled")
        check("label")
        if viewport == PHONE:
            # Everything needed to label is on the first screen: the image and all four buttons.
            bottom = page.eval_on_selector_all(".choice", "els => Math.max(...els.map(e => e.getBoundingClientRect().bottom))")
            assert bottom <= viewport["height"], bottom
        page.locator(".choice").nth(1).click()
        expect(page.locator(".choice.saved")).to_have_count(1)
        check("label-saved")
        page.locator("#zoom-open").click()
        expect(page.locator("#zoom")).to_be_visible()
        check("zoom")
        page.keyboard.press("Escape")

        page.goto(f"{live_server.url}/annotate/{finished.pk}/done/")
        check("done")
        page.get_by_role("link", name="Your campaigns").click()
        check("index-after-done")
        expect(page.get_by_role("heading", name="Your campaigns")).to_be_visible()
        page.goto(f"{live_server.url}/annotate/{closed.pk}/")
        expect(page.get_by_text("This campaign is closed.")).to_be_visible()
        check("closed")
        page.goto(f"{live_server.url}/annotate/{campaign.pk}/priming/")
        check("priming-again")

    assert walked == dict.fromkeys(walked, 0), walked
    assert len(walked) == 9
    assert failures == []
    assert favicons and set(favicons) == {200}
    assert Label.objects.filter(campaign=campaign, annotator=user).count() == 1


def test_it_hides_keyboard_hints_on_a_touch_screen(live_server, training_folder):
    campaign = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    user = make_annotator("bea")
    campaign.annotators.add(user)
    Priming.objects.create(campaign=campaign, annotator=user)
    with chromium() as browser:
        seen = {}
        for touch in (False, True):
            page = new_page(browser, PHONE, touch=touch)
            log_in(page, live_server.url, "bea", f"/annotate/{campaign.pk}/")
            page.wait_for_function("!document.querySelector('.choice').disabled")
            assert page.evaluate("matchMedia('(pointer: coarse)').matches") is touch
            seen[touch] = {"kbd": visible(page, "#labeler kbd"), "key": visible(page, "#labeler .key-hint"),
                           "touch": visible(page, "#labeler .touch-hint")}
            if touch:
                # A tapped button must not keep a hover look that makes it seem chosen for the next image.
                first = page.locator("#labeler").get_attribute("data-item")
                page.locator(".choice").nth(2).tap()
                page.wait_for_function(f"document.getElementById('labeler').dataset.item !== '{first}'")
                page.wait_for_function("!document.querySelector('.choice.saved')")
                borders = page.eval_on_selector_all(".choice", "els => els.map(e => getComputedStyle(e).borderColor)")
                assert len(set(borders)) == 1, borders
            page.context.close()
    assert len(seen[False]["kbd"]) == 5 and all(seen[False]["kbd"]) and all(seen[False]["key"])
    assert not any(seen[False]["touch"])
    assert not any(seen[True]["kbd"]) and not any(seen[True]["key"])
    assert seen[True]["touch"] and all(seen[True]["touch"])
