"""An annotator in a real Chromium: log in, pass priming, label with the keyboard, undo one, see progress move."""

from __future__ import annotations

import os
import re

import pytest

from annotation.models import Campaign, Label, Priming
from tests.annotation.browsing import chromium, log_in, new_page
from tests.annotation.conftest import make_pool
from tests.factories import PASSWORD, make_annotator

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(bypass_csp=True)  # wait_for_function evaluates with eval, which the policy forbids
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def test_it_labels_images_in_a_browser(page, live_server, training_folder):
    from playwright.sync_api import expect

    pool = make_pool(training_folder, per_scheme=2, attention_checks=0)
    campaign = Campaign.objects.create(name="Digits", pool=pool, priming_count=4, instructions="<p>Look closely.</p>")
    user = make_annotator("bea")
    campaign.annotators.add(user)
    n = pool.items.count()

    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "bea")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")

    # Priming first: the grid, the instructions, and a focused start button.
    # The first visit builds the grid with creative_core (importing torch): allow it time.
    expect(page.locator("img.priming-grid")).to_be_visible(timeout=90_000)
    assert page.evaluate("document.querySelector('img.priming-grid').naturalWidth") > 0
    expect(page.get_by_text("Look closely.")).to_be_visible()
    # Chromium moves focus to an autofocus button on its next rendering step: wait for it, then press Enter.
    expect(page.locator("#start")).to_be_focused()
    page.keyboard.press("Enter")

    image_requests: list[str] = []
    page.on("request", lambda request: image_requests.append(request.url) if "/annotate/image/" in request.url else None)
    progress = page.locator("#progress-text")
    expect(progress).to_have_text(f"0 / {n}")
    image = page.locator("#image")
    expect(image).to_have_css("image-rendering", "pixelated")
    page.wait_for_function("document.getElementById('image').naturalWidth > 0")
    # The image arrives inside the API's answer: no second request per label.
    assert page.evaluate("document.getElementById('image').src").startswith("data:image/png;base64,")
    first = page.locator("#labeler").get_attribute("data-item")

    page.keyboard.press("1")
    expect(progress).to_have_text(f"1 / {n}")
    page.wait_for_function(f"document.getElementById('labeler').dataset.item !== '{first}'")
    second = page.locator("#labeler").get_attribute("data-item")
    page.keyboard.press("2")
    expect(progress).to_have_text(f"2 / {n}")

    # Undo the second label: progress goes back and the same image returns.
    page.keyboard.press("u")
    expect(progress).to_have_text(f"1 / {n}")
    expect(page.locator("#labeler")).to_have_attribute("data-item", second)
    page.keyboard.press("3")
    expect(progress).to_have_text(f"2 / {n}")

    labels = {label.item.public_id: label for label in Label.objects.filter(annotator=user).select_related("item")}
    assert {k: v.value for k, v in labels.items()} == {first: "creative", second: "not_novel"}
    assert all(label.time_spent_ms is not None for label in labels.values())

    # Label the rest and reach the done page.
    for done in range(3, n + 1):
        # Keys pressed while the next image is still on its way are ignored on purpose: wait for it.
        page.wait_for_function("!document.querySelector('.choice').disabled")
        page.keyboard.press("4")
        if done < n:
            expect(progress).to_have_text(f"{done} / {n}")
    expect(page.get_by_role("heading", name="All done")).to_be_visible()
    assert Label.objects.filter(annotator=user).count() == n
    assert image_requests == []


def wait_for_image(page, previous: str | None = None) -> str:
    """Wait until an image is on screen and the label buttons take input; return its id."""
    page.wait_for_function("document.getElementById('image').naturalWidth > 0 && !document.querySelector('.choice').disabled")
    if previous is not None:
        page.wait_for_function(f"document.getElementById('labeler').dataset.item !== '{previous}'")
    return page.locator("#labeler").get_attribute("data-item")


def test_it_stores_nothing_on_enter_or_space(live_server, training_folder):
    """No label button holds focus when an image is shown, whether the last label came by key or by click."""
    from playwright.sync_api import expect

    pool = make_pool(training_folder, per_scheme=2, attention_checks=0)
    campaign = Campaign.objects.create(name="Digits", pool=pool, priming_count=4)
    user = make_annotator("bea")
    campaign.annotators.add(user)
    Priming.objects.create(campaign=campaign, annotator=user)

    with chromium() as browser:
        page = new_page(browser)
        log_in(page, live_server.url, "bea", f"/annotate/{campaign.pk}/")
        first = wait_for_image(page)
        assert page.evaluate("document.activeElement.closest('.choices') === null")
        for key in ("Enter", " ", "Enter"):
            page.keyboard.press(key)
        page.wait_for_timeout(700)
        assert not Label.objects.exists()
        assert page.locator("#labeler").get_attribute("data-item") == first

        # Label by mouse: the clicked button must not keep focus for the next image.
        page.get_by_role("button", name="Novel but not creative").click()
        second = wait_for_image(page, first)
        assert page.evaluate("document.activeElement.closest('.choices') === null")
        page.keyboard.press("Enter")
        page.keyboard.press(" ")
        page.wait_for_timeout(700)
        assert list(Label.objects.values_list("item__public_id", "value")) == [(first, "novel")]
        assert page.locator("#labeler").get_attribute("data-item") == second
        expect(page.locator("#progress-text")).to_have_text(f"1 / {pool.items.count()}")


def test_it_marks_the_recorded_choice(live_server, training_folder):
    """After a label the chosen button says it was saved; a disabled Undo looks disabled."""
    from playwright.sync_api import expect

    pool = make_pool(training_folder, per_scheme=2, attention_checks=0)
    campaign = Campaign.objects.create(name="Digits", pool=pool, priming_count=4)
    user = make_annotator("bea")
    campaign.annotators.add(user)
    Priming.objects.create(campaign=campaign, annotator=user)

    with chromium() as browser:
        page = new_page(browser)
        log_in(page, live_server.url, "bea", f"/annotate/{campaign.pk}/")
        first = wait_for_image(page)
        undo = page.locator("#undo")
        expect(undo).to_be_disabled()
        disabled_look = undo.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).cursor]")

        page.keyboard.press("3")
        chosen = page.locator(".choice[data-value='not_novel']")
        expect(chosen).to_have_class(re.compile(r"\bsaved\b"))
        assert "saved" in chosen.evaluate("b => getComputedStyle(b, '::after').content").lower()
        expect(page.locator("#status")).to_contain_text("Not novel or creative")
        assert page.locator(".choice.saved").count() == 1
        wait_for_image(page, first)

        expect(undo).to_be_enabled()
        enabled_look = undo.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).cursor]")
        assert disabled_look[0] != enabled_look[0], "a disabled Undo has the colour of a live link"
        assert disabled_look[1] != "pointer" and enabled_look[1] == "pointer"
        # The mark is brief: it goes away on its own.
        expect(page.locator(".choice.saved")).to_have_count(0, timeout=5_000)


PAUSE_S = 1.5  # the annotator's thinking time before each label, measured by the test itself


def test_it_stores_the_servers_time_through_a_paused_tab_a_second_tab_and_an_undo(live_server, training_folder):
    """The stored server intervals match the wall clock (within 10%): for each label, the browser's own clock from
    sending the request that handed the image out to sending the label; though the tab sat in the background while
    a second tab showed the same image, and one label was undone and given again."""
    from django.urls import reverse

    pool = make_pool(training_folder, per_scheme=2, attention_checks=0)
    campaign = Campaign.objects.create(name="Timing", pool=pool, priming_count=4)
    user = make_annotator("tim")
    campaign.annotators.add(user)
    Priming.objects.create(campaign=campaign, annotator=user)
    url = reverse("annotation:label", args=[campaign.pk])
    with chromium() as browser:
        page = new_page(browser)
        sent: list = []  # the page's API requests, with the browser's clock
        page.on("requestfinished", lambda r: sent.append(r) if "/api/campaigns/" in r.url else None)
        log_in(page, live_server.url, "tim", url)
        seen = _label_with_pauses(page, live_server.url + url, pool.items.count())
        wall = _wall_clock_per_label(sent)

    labels = {lab.item.public_id: lab for lab in Label.objects.filter(campaign=campaign).select_related("item")}
    assert set(labels) == set(seen) == set(wall)
    stored = sum(lab.server_time_ms for lab in labels.values())
    clock = sum(wall.values())
    print(f"\nserver {stored} ms, browser's clock {clock:.0f} ms, ratio {stored / clock:.3f}; per label (server, "
          "browser, on screen):", [(labels[k].server_time_ms, round(wall[k]), round(1000 * seen[k])) for k in seen])
    assert 0.9 <= stored / clock <= 1.1
    for public_id, lab in labels.items():
        assert lab.handed_at < lab.created_at
        assert lab.server_time_ms >= 1000 * seen[public_id] >= 1000 * PAUSE_S  # at least what the test waited
        assert lab.time_spent_ms is not None
    assert sorted(lab.position for lab in labels.values()) == [1, 2, 3, 4]


def _label_with_pauses(page, url: str, n: int) -> dict[str, float]:
    """Label four images with pauses: one while a second tab shows the same image, one undone and given again.
    Returns each labelled image's seconds on screen (as the test saw it) before its label."""
    import time

    from playwright.sync_api import expect

    progress = page.locator("#progress-text")
    seen: dict[str, float] = {}

    def on_screen(done: int, previous: str | None) -> tuple[str, float]:
        """Wait (by progress, not by the clock) for the image after `done` labels; its id and when it showed."""
        expect(progress).to_have_text(f"{done} / {n}")
        page.wait_for_function("([prev]) => { const r = document.getElementById('labeler'); "
                               "return r.dataset.item && r.dataset.item !== prev && "
                               "document.getElementById('image').naturalWidth > 0; }", arg=[previous or ""])
        return page.locator("#labeler").get_attribute("data-item"), time.monotonic()

    def label(key: str, item: str, since: float) -> None:
        time.sleep(PAUSE_S)
        seen[item] = time.monotonic() - since
        page.keyboard.press(key)

    first, since = on_screen(0, None)
    label("1", first, since)
    # The tab goes to the background: a second tab opens the labeling page and shows the same image (one claim),
    # then closes, and the annotator labels in the first tab.
    second, since = on_screen(1, first)
    other = page.context.new_page()
    other.goto(url)
    expect(other.locator("#labeler")).to_have_attribute("data-item", second)
    time.sleep(PAUSE_S)
    other.close()
    page.bring_to_front()
    label("2", second, since)
    # A label, then an undo: the image comes back and its time starts again.
    third, since = on_screen(2, second)
    label("3", third, since)
    expect(progress).to_have_text(f"3 / {n}")
    page.keyboard.press("u")
    expect(progress).to_have_text(f"2 / {n}")
    expect(page.locator("#labeler")).to_have_attribute("data-item", third)
    label("4", third, time.monotonic())
    fourth, since = on_screen(3, third)
    label("1", fourth, since)
    expect(progress).to_have_text(f"4 / {n}")
    return seen


def _wall_clock_per_label(requests: list) -> dict[str, float]:
    """image id -> ms on the browser's clock from sending the request whose answer handed the image out (the last
    time) to sending the label that was kept."""
    handed: dict[str, float] = {}
    wall: dict[str, float] = {}
    for request in sorted(requests, key=lambda r: r.timing["startTime"]):
        at = request.timing["startTime"]
        answer = request.response().json()
        body = request.post_data_json or {}
        if "/labels/" in request.url and request.response().status == 201:
            wall[body["item"]] = at - handed[body["item"]]
        if "/undo/" in request.url:
            wall.pop(answer["item"]["id"], None)  # its label is gone; the time starts again from here
        if answer.get("item"):
            handed[answer["item"]["id"]] = at
    return wall
