"""Every sample of a job carries the surrogates beyond D_r (entropy, top probability, out-of-class scores, nearest
training image in pixels and in features): in the results file, on the sample rows, in the zip; a model gets its
classifier when it is trained, or from its first job."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings

import creative_core as cc
from generation import services
from generation.models import SURROGATE_FIELDS, JobStatus, Sample, TrainedModel
from tests.generation.conftest import TRAIN_LIMIT, run_finished_job

pytestmark = pytest.mark.django_db


def test_the_sample_fields_are_the_library_s_surrogates():
    assert SURROGATE_FIELDS == cc.SURROGATE_NAMES
    assert all(f in {f.name for f in Sample._meta.get_fields()} for f in SURROGATE_FIELDS)


def test_a_job_measures_every_surrogate_of_every_sample(ready_model):
    job = run_finished_job(ready_model, n=12)
    results = services.Results.load(job)
    assert set(results.metrics) == set(cc.SURROGATE_NAMES)
    n = len(results.index)
    assert all(v.shape == (n,) and v.dtype == np.float32 for v in results.metrics.values())
    m = results.metrics
    # A MNIST model judged by a MNIST + Fashion-MNIST classifier: every score is defined.
    assert all(np.isfinite(v).all() for v in m.values())
    assert ((m["entropy"] >= 0) & (m["entropy"] <= math.log(20) + 1e-5)).all()
    assert ((m["top_probability"] >= 1 / 20 - 1e-6) & (m["top_probability"] <= 1 + 1e-6)).all()
    assert set(np.unique(m["out_of_class_count"]).tolist()) <= {0.0, 1.0}
    counted = m["out_of_class_count"] == 1  # the top class is outside and above 0.95: then it is the max
    assert np.allclose(m["out_of_class_max"][counted], m["top_probability"][counted])
    assert (m["nn_pixels"] > 0).all() and (m["nn_features"] >= 0).all()
    # Per scheme means in the summary, and the time it took.
    for scheme, summary in job.summary.items():
        rows = results.scheme == results.schemes.index(scheme)
        assert summary["nn_pixels_mean"] == pytest.approx(float(m["nn_pixels"][rows].mean()), rel=1e-6)
        assert summary["entropy_mean"] == pytest.approx(float(m["entropy"][rows].mean()), rel=1e-6)
    assert job.timings["surrogates"] > 0 and job.timings["classifier"] == 0  # the model had its classifier
    parts = sum(v for k, v in job.timings.items() if k != "total")
    assert parts <= job.timings["total"] + 1e-3  # each second counted once


def test_the_stored_scores_are_the_scorer_s_on_the_very_images(ready_model):
    """Recomputed from the images a pool shows: the same scores as the job stored."""
    from creative_core.classifier import load_classifier
    from creative_core.datasets import training_set

    job = run_finished_job(ready_model, n=10)
    pool = services.build_pool(job, per_scheme=3, seed=0)
    samples = [i.sample for i in pool.items.select_related("sample") if i.sample]
    clf = load_classifier(Path(settings.MEDIA_ROOT) / ready_model.classifier.name, device="cpu").model
    train = training_set("mnist", root=settings.DATA_ROOT, limit=TRAIN_LIMIT)
    scorer = cc.SurrogateScorer(clf, train.images, in_classes=range(10), device="cpu")
    results = services.Results.load(job)
    for sample in samples:
        row = results.rows(sample.scheme, np.array([sample.index]))[0]
        image = torch.from_numpy(results.reserve[results.schemes.index(sample.scheme), sample.index]).float()
        # The job scored the float image; the reserve holds it in 8 bits: within that rounding.
        again = scorer.score(image.div(255)[None])
        assert sample.nn_pixels == pytest.approx(float(results.metrics["nn_pixels"][row]), rel=1e-6)
        assert sample.nn_pixels == pytest.approx(float(again["nn_pixels"][0]), abs=0.05)
        assert sample.entropy == pytest.approx(float(again["entropy"][0]), abs=0.05)
        for name in SURROGATE_FIELDS:
            assert getattr(sample, name) == pytest.approx(float(results.metrics[name][row]), rel=1e-6)


def test_written_images_carry_their_scores_and_the_zip_lists_them(ready_model):
    job = run_finished_job(ready_model, n=5, write_all_images=True)
    samples = list(Sample.objects.filter(job=job))
    assert len(samples) == 20 and all(s.nn_pixels is not None and s.entropy is not None for s in samples)
    buffer = io.BytesIO()
    services.write_archive(job, buffer)
    with zipfile.ZipFile(buffer) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("samples.csv").decode())))
        readme = zf.read("README.txt").decode()
    assert len(rows) == 20
    by_id = {s.public_id: s for s in samples}
    for row in rows:
        for name in SURROGATE_FIELDS:
            assert float(row[name]) == pytest.approx(getattr(by_id[row["public_id"]], name), rel=1e-5)
    assert "nearest training image" in readme


def test_a_model_without_a_classifier_gets_one_from_its_first_job(ready_model):
    (Path(settings.MEDIA_ROOT) / ready_model.classifier.name).unlink()
    ready_model.classifier = ""
    ready_model.metrics = {k: v for k, v in ready_model.metrics.items() if k != "classifier"}
    ready_model.save()
    job = run_finished_job(ready_model, n=4)
    ready_model.refresh_from_db()
    assert ready_model.classifier and (Path(settings.MEDIA_ROOT) / ready_model.classifier.name).is_file()
    info = ready_model.metrics["classifier"]
    assert info["dataset"] == "mnist+fmnist" and info["in_classes"] == list(range(10)) and info["n_classes"] == 20
    assert 0 < info["test_accuracy"] <= 1
    assert job.timings["classifier"] > 0
    assert np.isfinite(services.Results.load(job).metrics["out_of_class_max"]).all()


def test_training_a_model_trains_its_classifier(data_root):
    model = TrainedModel.objects.create(name="small", dataset="mnist", epochs=1, train_limit=300, seed=0)
    services.train_model(model.pk)
    model.refresh_from_db()
    assert model.status == JobStatus.SUCCEEDED, model.error
    assert model.classifier and (Path(settings.MEDIA_ROOT) / model.classifier.name).is_file()
    assert model.metrics["classifier"]["limit"] == 300 and model.metrics["classifier"]["n_test"] == 300
    assert "test_elbo" in model.metrics  # the VAE's own metrics are kept beside it


def test_the_job_page_shows_the_means_per_scheme_and_the_classifier(ready_model, rita):
    job = run_finished_job(ready_model, n=6)
    page = rita.get(f"/admin/generation/generationjob/{job.pk}/change/").content.decode()
    assert 'id="surrogate-means"' in page and "Nearest training image (pixels)" in page
    assert f"{job.summary['low_active']['nn_pixels_mean']:.3f}" in page
    assert "mnist+fmnist" in page
    import re

    table = re.search(r'<table id="surrogate-means">(.*?)</table>', page, re.S).group(1)
    shown = re.findall(r"<tr><td>(\w+)</td>", table)
    assert shown == ["regular", "noisy", "random_flip", "low_active"]  # the library's order, whatever the JSON's
    model_page = rita.get(f"/admin/generation/trainedmodel/{ready_model.pk}/change/").content.decode()
    assert "test accuracy" in model_page and ready_model.classifier.name in model_page


def test_an_unreadable_classifier_is_trained_again_and_nothing_is_lost(ready_model):
    path = Path(settings.MEDIA_ROOT) / ready_model.classifier.name
    path.write_bytes(b"not a torch file")
    job = run_finished_job(ready_model, n=4)
    ready_model.refresh_from_db()
    assert ready_model.classifier.name != path.relative_to(settings.MEDIA_ROOT).as_posix()
    assert (Path(settings.MEDIA_ROOT) / ready_model.classifier.name).is_file()
    assert job.timings["classifier"] > 0
    assert np.isfinite(services.Results.load(job).metrics["entropy"]).all()
