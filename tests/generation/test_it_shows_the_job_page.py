"""The job page: one status (live), the results file for researchers, a zip that says what it holds; defaults."""

from __future__ import annotations

import html
import io
import json
import os
import re
import zipfile

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import GenerationJob, JobStatus, TrainedModel
from tests.factories import PASSWORD
from tests.generation.conftest import make_job, run_finished_job


@pytest.fixture
def finished_job(ready_model) -> GenerationJob:
    return run_finished_job(ready_model, n=8, optimise_dr=False)


@pytest.mark.django_db
def test_the_results_link_downloads_the_results_file(rita, finished_job):
    url = reverse("generation:results", args=[finished_job.pk])
    page = rita.get(reverse("admin:generation_generationjob_change", args=[finished_job.pk])).content.decode()
    assert f'href="{url}"' in page
    response = rita.get(url)
    assert response.status_code == 200
    assert 'filename="job-' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    with finished_job.results.open("rb") as fh:
        assert body == fh.read()
    with np.load(io.BytesIO(body)) as data:
        assert len(data["index"]) == 4 * 8


@pytest.mark.django_db
def test_only_researchers_get_the_results_file(client, finished_job, annotator, stranger):
    url = reverse("generation:results", args=[finished_job.pk])
    assert client.get(url).status_code == 404
    for person in (annotator, stranger):
        client.login(username=person.username, password=PASSWORD)
        assert client.get(url).status_code == 404
        client.logout()


@pytest.mark.django_db
def test_a_job_without_results_has_no_file(rita, ready_model):
    job = make_job(ready_model, n=5)
    assert rita.get(reverse("generation:results", args=[job.pk])).status_code == 404


def readme(rita, job) -> tuple[str, list[str]]:
    archive = rita.get(reverse("admin:generation_generationjob_download", args=[job.pk]))
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        return zf.read("README.txt").decode(), zf.namelist()


@pytest.mark.django_db
def test_the_zip_says_why_it_holds_no_images(rita, finished_job):
    text, names = readme(rita, finished_job)
    assert not [n for n in names if n.startswith("images/")]
    assert "no pool has been built from this job yet" in text and "Build a sample pool" in text
    assert "32 samples" in text


@pytest.mark.django_db
def test_the_zip_says_which_images_it_holds(rita, finished_job):
    services.build_pool(finished_job, per_scheme=2, name="first pool")
    text, names = readme(rita, finished_job)
    assert len([n for n in names if n.startswith("images/")]) == 8
    assert "8 PNG files: the samples drawn into this job's sample pools (first pool (2 per scheme))" in text


@pytest.mark.django_db
def test_a_new_job_starts_small_on_the_only_trained_model(rita, ready_model):
    TrainedModel.objects.create(name="still training", status=JobStatus.RUNNING)
    page = rita.get(reverse("admin:generation_generationjob_add")).content.decode()
    assert f'<option value="{ready_model.pk}" selected>' in page
    assert 'name="samples_per_scheme" value="1000"' in page
    assert "the paper used 10,000" in page and "3 minutes" in page


@pytest.mark.django_db
def test_with_two_trained_models_none_is_chosen_for_the_researcher(rita, ready_model):
    other = TrainedModel.objects.create(name="another", status=JobStatus.SUCCEEDED,
                                        checkpoint=ready_model.checkpoint.name)
    page = rita.get(reverse("admin:generation_generationjob_add")).content.decode()
    assert '<option value="" selected>' in page
    assert all(f'<option value="{m.pk}" selected>' not in page for m in (ready_model, other))


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    from tests.annotation.test_it_labels_in_a_browser import CHROMIUM_ARGS

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_status_and_the_live_bar_say_the_same(page, live_server, ready_model, researcher):
    from playwright.sync_api import expect

    job = make_job(ready_model, n=5)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", researcher.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.goto(f"{live_server.url}{reverse('admin:generation_generationjob_change', args=[job.pk])}")
    status = page.locator(".field-progress_display .readonly")
    expect(status).to_have_text("Queued 0%")
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.74,
                                                   heartbeat_at=timezone.now())
    expect(status).to_have_text("Running 74%")
    # Nothing else on the page still says "Queued".
    assert "Queued" not in page.locator("#content").inner_text()
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="worker lost")
    expect(page.locator(".errornote")).to_contain_text("worker lost")  # the page reloaded to show the outcome
    expect(status).to_have_text("Failed 74%")


@pytest.mark.django_db
def test_the_raw_summary_is_folded_and_the_timings_read_as_seconds(rita, finished_job):
    """The tables show the figures a researcher compares; the stored JSON is there, folded, not a wall of text."""
    page = rita.get(reverse("admin:generation_generationjob_change", args=[finished_job.pk])).content.decode()
    folded = re.search(r"<details><summary>Every figure per scheme \(JSON, as stored\)</summary><pre>(.*?)</pre>",
                       page, re.S)
    assert folded is not None
    assert json.loads(html.unescape(folded.group(1))) == finished_job.summary
    assert f"total {finished_job.timings['total']:.1f} s" in page
    assert '{"load": ' not in page  # no raw JSON outside the fold
