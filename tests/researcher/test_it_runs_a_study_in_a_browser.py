"""The researcher's whole path in a real Chromium, on a tiny model and a real worker: train -> job -> pool ->
campaign in the admin, annotators label through the API, then the report and every CSV download."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from annotation.models import Campaign, Label
from generation.models import GenerationJob, JobStatus, TrainedModel
from tests.annotation.test_it_labels_in_a_browser import CHROMIUM_ARGS
from tests.factories import PASSWORD, make_annotator, make_researcher
from tests.waiting import wait_for_row

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LABELS = ("creative", "novel", "not_novel", "inconclusive")


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True)
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def appears(query, timeout: float = 120):
    """The first row of `query` once the page's POST has made it (a click returns before its request ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = query.first()
        if row is not None:
            return row
        time.sleep(0.2)
    raise AssertionError(f"no {query.model.__name__} after {timeout}s")


def wait_until_done(row, stall: float = 180) -> None:
    """Until the row has ended (succeeded), failing only when it stops moving for `stall` s."""
    wait_for_row(row, lambda r: r.status not in (JobStatus.QUEUED, JobStatus.RUNNING), stall=stall)
    assert row.status == JobStatus.SUCCEEDED, row.error


def label_through_the_api(base: str, campaign: Campaign, annotators) -> int:
    """Each annotator primes, then labels every image it is handed; an image's label follows its id, so all
    annotators agree and every image reaches a consensus."""
    made = 0
    for user in annotators:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
        api = f"{base}/api/campaigns/{campaign.pk}"
        assert http.post(f"{api}/priming/", timeout=30).status_code in (200, 201, 204)
        answer = http.post(f"{api}/next/", json={}, timeout=30).json()
        while answer.get("item"):
            item = answer["item"]["id"]
            response = http.post(f"{api}/labels/", timeout=30, json={
                "item": item, "value": LABELS[sum(map(ord, item)) % 4], "time_spent_ms": 900, "next": True})
            assert response.status_code == 201, response.text
            made += 1
            answer = response.json()
    return made


def test_it_runs_a_study_from_the_admin_to_the_csv_files(page, live_server, start_worker, data_root, tmp_path: Path):
    from playwright.sync_api import expect

    start_worker(queues="default,gpu", name="study")
    make_researcher("rita")
    team = [make_annotator(f"rater{i}") for i in range(3)]

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#study-dashboard")).to_contain_text("Train a model")

    job = train_a_model_and_run_a_job(page, live_server)
    pool = build_a_pool(page, live_server, job)
    n_images = pool.items.count()
    assert n_images == 9

    campaign = open_a_campaign(page, live_server, pool)

    # 5. The annotators label through the API.
    assert label_through_the_api(live_server.url, campaign, team) == 3 * n_images
    assert Label.objects.filter(campaign=campaign).count() == 3 * n_images

    # 6. The report, reached from the dashboard, and each CSV.
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#study-dashboard")).to_contain_text(f"{3 * n_images} / {3 * n_images} labels")
    page.locator("#study-dashboard").get_by_role("link", name="Open the report").click()
    expect(page.locator("h1")).to_have_text("Report: Round 1")
    expect(page.locator("#no-consensus-warning")).to_have_count(0)
    tables = download_the_csv_files(page, tmp_path)
    assert len(tables["labels"]) == 3 * n_images
    assert {row["label"] for row in tables["labels"]} <= set(LABELS)
    assert len(tables["annotators"]) == 3
    generated = [row for row in tables["consensus"] if row["scheme"] in ("regular", "noisy", "random_flip", "low_active")]
    assert len(generated) == 8 and all(row["consensus"] for row in generated)
    assert {row["scheme"] for row in tables["summary"]} >= {"regular", "noisy", "random_flip", "low_active"}


def train_a_model_and_run_a_job(page, live_server) -> GenerationJob:
    from playwright.sync_api import expect

    # 1. Train a tiny model.
    page.locator("#study-dashboard").get_by_role("link", name="Train a model").first.click()
    page.fill("#id_name", "tiny")
    page.select_option("#id_dataset", "mnist")
    page.fill("#id_epochs", "1")
    page.fill("#id_train_limit", "500")
    page.click("input[name=_save]")
    model = appears(TrainedModel.objects.filter(name="tiny"))
    wait_until_done(model)

    # 2. A small job, from the dashboard's next step (the model comes preselected).
    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Run a generation job").click()
    expect(page.locator("#id_trained_model")).to_have_value(str(model.pk))
    page.fill("#id_samples_per_scheme", "6")
    page.uncheck("#id_optimise_dr")
    page.click("input[name=_save]")
    job = appears(GenerationJob.objects.filter(trained_model=model))
    wait_until_done(job)
    return job


def build_a_pool(page, live_server, job: GenerationJob):
    from playwright.sync_api import expect

    # 3. A pool, from the dashboard.
    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Build a sample pool").click()
    page.fill("#id_per_scheme", "2")
    page.fill("#id_attention_checks", "1")
    page.check("#id_accept_spottable_checks")  # the tiny model's reconstructions have collapsed
    page.fill("#id_name", "pool")
    page.click("input[type=submit][value^=Build]")
    # A worker of the default queue builds it; the build's page follows it and reloads when it ends.
    expect(page.locator(".messagelist")).to_contain_text("is queued")
    pool = appears(job.pools.all())
    expect(page.get_by_role("link", name="Open the pool")).to_be_visible(timeout=60_000)
    expect(page.locator(".gen-status")).to_have_text("Succeeded 100%")
    return pool


def open_a_campaign(page, live_server, pool) -> Campaign:
    from playwright.sync_api import expect

    # 4. A campaign on it: the label definitions come prefilled; three annotators, three votes per image.
    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Open a campaign").click()
    expect(page.locator("#id_pool")).to_have_value(str(pool.pk))
    assert "Novel but not creative" in page.input_value("#id_instructions")
    page.fill("#id_name", "Round 1")
    page.fill("#id_annotators_per_image", "3")
    page.fill("#id_priming_count", "4")
    page.click("#id_annotators_add_all")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    campaign = appears(Campaign.objects.filter(name="Round 1"))
    assert campaign.annotators.count() == 3
    return campaign


def download_the_csv_files(page, tmp_path: Path) -> dict[str, list[dict[str, str]]]:
    tables = {}
    for kind in ("summary", "consensus", "labels", "annotators"):
        with page.expect_download() as info:
            page.locator(f"a[href$='/{kind}.csv']").click()
        target = tmp_path / f"{kind}.csv"
        info.value.save_as(target)
        tables[kind] = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    return tables
