"""Attention checks that look like the pool: reconstructions of held-out images, raw training images, or both.

Raw training images look sharper than anything the decoder makes, so an annotator could spot a check by look.
A reconstruction of a held-out image (encoder mean, regular decoding) passes through the same decoder.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

import creative_core as cc
from annotation.models import Campaign, Label
from evaluation.reports import build_report, pseudonym
from generation import services
from generation.models import AttentionKind, GenerationJob, SamplePool
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD, make_annotator
from tests.generation.conftest import run_finished_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_job(ready_model) -> GenerationJob:
    return run_finished_job(ready_model, n=20, optimise_dr=False)


def check_bytes(pool: SamplePool) -> list[bytes]:
    return sorted(item.attention_image.read() for item in pool.items.filter(sample=None))


def expected(job: GenerationJob, n: int, seed: int, *, train: bool) -> list[bytes]:
    images = cc.training_images("mnist", n, seed=seed, root=settings.DATA_ROOT, train=train)
    if not train:
        images = cc.reconstruct(cc.load_checkpoint(job.trained_model.checkpoint.path, device="cpu").model, images,
                                device="cpu")
    return [cc.to_png_bytes(i) for i in images]


def test_it_uses_reconstructions_of_held_out_images_by_default(finished_job):
    pool = services.build_pool(finished_job, per_scheme=3, seed=4, attention_checks=5, accept_spottable_checks=True)
    pool.refresh_from_db()
    assert pool.attention_kind == AttentionKind.RECONSTRUCTION
    checks = check_bytes(pool)
    assert checks == sorted(expected(finished_job, 5, 4, train=False))
    raw_test = cc.training_images("mnist", 5, seed=4, root=settings.DATA_ROOT, train=False)
    assert not set(checks) & {cc.to_png_bytes(i) for i in raw_test}  # passed through the decoder, not as they are


def test_it_mixes_both_kinds_half_each(finished_job):
    pool = services.build_pool(finished_job, per_scheme=3, seed=6, attention_checks=5,
                               attention_kind=AttentionKind.BOTH, accept_spottable_checks=True)
    assert SamplePool.objects.get(pk=pool.pk).attention_kind == AttentionKind.BOTH
    want = expected(finished_job, 2, 6, train=True) + expected(finished_job, 3, 6, train=False)
    assert check_bytes(pool) == sorted(want)


def test_it_keeps_raw_training_images_when_asked(finished_job):
    pool = services.build_pool(finished_job, per_scheme=3, seed=6, attention_checks=3, attention_kind="raw",
                               accept_spottable_checks=True)
    assert check_bytes(pool) == sorted(expected(finished_job, 3, 6, train=True))


def test_it_refuses_an_unknown_kind_before_any_work(finished_job):
    with pytest.raises(services.JobError, match="Unknown kind"):
        services.build_pool(finished_job, per_scheme=3, attention_checks=2, attention_kind="sharp")
    assert not finished_job.pools.exists()


def test_it_expects_not_novel_or_creative_on_reconstructions(finished_job):
    pool = services.build_pool(finished_job, per_scheme=2, seed=1, attention_checks=3, accept_spottable_checks=True)
    campaign = Campaign.objects.create(name="checks", pool=pool, annotators_per_image=2)
    careful, careless = make_annotator("careful"), make_annotator("careless")
    for item in pool.items.all():
        for user, answer in ((careful, "not_novel"), (careless, "creative")):
            Label.objects.create(campaign=campaign, item=item, annotator=user,
                                 value=answer if item.is_attention_check else "novel", time_spent_ms=900)
    rows = {a.pseudonym: a for a in build_report(campaign).annotators}
    good, bad = rows[pseudonym(campaign.pk, careful.pk)], rows[pseudonym(campaign.pk, careless.pk)]
    assert (good.attention_seen, good.attention_failed) == (3, 0)
    assert (bad.attention_seen, bad.attention_failed) == (3, 3)


def test_it_builds_and_shows_the_kind_in_the_admin(client, researcher, finished_job):
    client.login(username=researcher.username, password=PASSWORD)
    form = client.get(reverse("admin:generation_generationjob_pool", args=[finished_job.pk])).content.decode()
    assert 'name="attention_kind"' in form and "Reconstructions of held-out images" in form
    response = client.post(reverse("admin:generation_generationjob_pool", args=[finished_job.pk]),
                           {"per_scheme": 2, "attention_checks": 2, "attention_kind": "both", "seed": 0,
                            "accept_spottable_checks": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    build = finished_job.pool_builds.get()  # queued on the default queue; run here as its task runs it
    assert build.attention_kind == AttentionKind.BOTH
    services.run_pool_build(build.pk)
    pool = finished_job.pools.get()
    assert pool.attention_kind == AttentionKind.BOTH and pool.items.filter(sample=None).count() == 2
    page = client.get(reverse("admin:generation_samplepool_change", args=[pool.pk])).content.decode()
    assert "Both (half each)" in page
    listing = client.get(reverse("admin:generation_samplepool_changelist")).content.decode()
    assert "Both (half each)" in listing


@pytest.mark.parametrize(("kind", "shown"), [("reconstruction", "reconstructions of held-out images"),
                                             ("raw", "training images"), ("both", "both (half each)")])
def test_it_says_in_the_report_which_kind_the_campaign_uses(client, researcher, kind, shown):
    campaign, _ = build_campaign({"regular": [[0, 0, 9, 0]]}, make_annotators(9), attention=[["not_novel"] * 9])
    SamplePool.objects.filter(pk=campaign.pool_id).update(attention_kind=kind)
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    line = re.search(r'<p id="attention-kind">(.*?)</p>', page, re.S).group(1)
    assert shown in line and "not novel or creative" in line
    assert ("sharper" in line) == (kind == "raw")


def test_it_tells_annotators_nothing_about_the_kind(client, finished_job):
    """Pages, API answers, image bytes and headers are alike for checks of either kind and for samples."""
    pool = services.build_pool(finished_job, per_scheme=3, seed=8, attention_checks=4, attention_kind="both",
                               accept_spottable_checks=True)
    anna = make_annotator("anna")
    campaign = Campaign.objects.create(name="Digits", pool=pool, annotators_per_image=1, priming_count=4)
    campaign.annotators.add(anna)
    client.login(username=anna.username, password=PASSWORD)
    seen = [client.get(reverse("annotation:priming", args=[campaign.pk]), follow=True).content.decode()]
    client.post(reverse("annotation_api:primed", args=[campaign.pk]))
    seen.append(client.get(reverse("annotation:label", args=[campaign.pk]), follow=True).content.decode())
    shapes = set()
    while not (answer := client.post(reverse("annotation_api:next", args=[campaign.pk]))).json()["done"]:
        item = answer.json()["item"]
        image = client.get(item["image"])
        seen += [answer.content.decode(), image.content.decode("latin-1"), str(sorted(image.headers.items()))]
        shapes.add((tuple(sorted(item)), len(item["data_url"]), len(image.content), tuple(sorted(image.headers))))
        client.post(reverse("annotation_api:submit", args=[campaign.pk]), {"item": item["id"], "value": "novel"},
                    content_type="application/json")
    assert campaign.labels.count() == pool.items.count() == 16
    assert len(shapes) == 1  # the same keys, lengths and headers for every image
    text = "\n".join(seen).lower()
    for word in ("reconstruct", "attention", "held-out", "held out", AttentionKind.BOTH.label.lower()):
        assert word not in text, word


# --- the check-quality gate -------------------------------------------------------------------------------------


@pytest.fixture
def collapsed_job(ready_model, tmp_path) -> GenerationJob:
    """A job of a model whose decoder draws the same image whatever z is (its last layer's weights zeroed): the
    posterior-collapse blob, made in a moment."""
    import torch

    from generation.models import TrainedModel

    ck = cc.load_checkpoint(ready_model.checkpoint.path, device="cpu")
    last = [m for m in ck.model.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
    cc.save_checkpoint(ready_model.checkpoint.path, ck.model, ck.meta, ck.profile)
    TrainedModel.objects.filter(pk=ready_model.pk).update(name="collapsed")
    return run_finished_job(ready_model, n=20, optimise_dr=False)


def test_it_refuses_reconstruction_checks_from_a_collapsed_model(collapsed_job):
    with pytest.raises(services.JobError) as refused:
        services.build_pool(collapsed_job, per_scheme=5, seed=1, attention_checks=6)
    message = str(refused.value)
    assert "collapsed" in message and "Train the model longer" in message and "raw training images" in message
    assert not collapsed_job.pools.exists()
    # As a task, the build fails with the same reason for the researcher to read.
    build = services.launch_pool_build(collapsed_job, per_scheme=5, seed=1, attention_checks=6)
    services.run_pool_build(build.pk)
    build.refresh_from_db()
    assert build.status == "failed" and "collapsed" in build.error and not collapsed_job.pools.exists()


def test_it_refuses_checks_that_image_statistics_pick_out_unless_accepted(client, researcher, finished_job):
    """Raw training images against a tiny model's blurred samples: told apart every time."""
    with pytest.raises(services.JobError) as refused:
        services.build_pool(finished_job, per_scheme=5, seed=2, attention_checks=8, attention_kind="raw")
    message = str(refused.value)
    assert "cross-validated AUC 1.00" in message and "fewer checks" in message and "Accept" in message
    assert not finished_job.pools.exists()

    pool = services.build_pool(finished_job, per_scheme=5, seed=2, attention_checks=8, attention_kind="raw",
                               accept_spottable_checks=True)
    quality = SamplePool.objects.get(pk=pool.pk).check_quality
    assert quality["separability"] == 1.0 and quality["accepted"] and quality["n_checks"] == 8
    assert quality["n_generated"] == 20 and set(quality["by_statistic"]) == {
        "mean", "mid_grey_share", "maximum", "sharpness", "laplacian_variance"}
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("admin:generation_samplepool_change", args=[pool.pk])).content.decode()
    assert "cross-validated AUC 1.00" in page
    campaign = Campaign.objects.create(name="spotted", pool=pool, annotators_per_image=1)
    report = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    line = re.search(r'<p id="check-quality">(.*?)</p>', report, re.S).group(1)
    assert "AUC 1.00" in line and "built the pool although" in line


def test_it_records_each_checks_kind_and_splits_failures_by_kind(finished_job):
    pool = services.build_pool(finished_job, per_scheme=3, seed=6, attention_checks=5, attention_kind="both",
                               accept_spottable_checks=True)
    checks = list(pool.items.filter(sample=None))
    assert sorted(c.check_kind for c in checks) == ["raw", "raw", "reconstruction", "reconstruction",
                                                    "reconstruction"]
    raw_bytes = set(expected(finished_job, 2, 6, train=True))
    assert all((c.attention_image.read() in raw_bytes) == (c.check_kind == "raw") for c in checks)
    campaign = Campaign.objects.create(name="kinds", pool=pool, annotators_per_image=1)
    user = make_annotator("kim")
    for item in pool.items.all():
        # Fails every reconstruction (a blob looks inconclusive), passes every training image.
        value = "novel" if not item.is_attention_check else ("not_novel" if item.check_kind == "raw" else "inconclusive")
        Label.objects.create(campaign=campaign, item=item, annotator=user, value=value, time_spent_ms=900)
    kinds = {k.kind: (k.seen, k.failed) for k in build_report(campaign, inference=False).check_kinds}
    assert kinds == {"raw": (2, 0), "reconstruction": (3, 3)}
