"""Trained models, generation jobs, samples and sample pools.

Blinding starts here: a Sample's image file is named by an opaque random id, so neither a path nor
an id says which decoding scheme made it. Provenance (scheme, units, noise seed, z, D_r) lives only
in columns that annotator-facing code never reads.

All samples of a job are measured (D_r and provenance), but only compactly, in the job's results
file (one .npz); rows and PNG files are written for the samples drawn into pools (or for all, when
asked).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from core.freezing import Freezable

# A job asks for at most this many samples per scheme: beyond it a typo (an extra zero) would tie up a GPU for hours.
MAX_SAMPLES_PER_SCHEME = 100_000
# A job's default size: minutes on a CPU. The paper used 10,000 samples per scheme.
DEFAULT_SAMPLES_PER_SCHEME = 1_000
PAPER_SAMPLES_PER_SCHEME = 10_000
# Seeds of pools are drawn into numpy's and torch's generators: keep them within 32 bits, as both take them.
MAX_SEED = 2**32 - 1


def new_public_id() -> str:
    """An opaque, unguessable id (22 url-safe characters, 128 bits of randomness)."""
    return secrets.token_urlsafe(16)


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


def stale_after() -> timedelta:
    """A running row whose worker has not written a heartbeat for this long is taken as lost."""
    return timedelta(seconds=getattr(settings, "GENERATION_STALE_AFTER", 900))


class WorkRow(models.Model):
    """What a trained model and a generation job share: a status a worker moves along, with a heartbeat."""

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    error = models.TextField(blank=True)
    device = models.CharField(max_length=50, blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    # Written by the worker at every batch; a running row without a recent heartbeat has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # What the researcher can do about a row whose worker vanished (said in its error).
    again_hint = "Relaunch to start again."

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_stale(self) -> bool:
        if self.status != JobStatus.RUNNING:
            return False
        last = self.heartbeat_at or self.started_at or self.created_at
        return last is None or timezone.now() - last > stale_after()

    def progress_dict(self) -> dict:
        return {"id": self.pk, "status": self.status, "progress": round(self.progress, 4),
                "error": self.error, "device": self.device,
                "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None}


class Dataset(models.TextChoices):
    MNIST = "mnist", "MNIST"
    FMNIST = "fmnist", "Fashion-MNIST"
    MNIST_FMNIST = "mnist+fmnist", "MNIST + Fashion-MNIST"
    FOLDER = "folder", "Image folder"


class Architecture(models.TextChoices):
    MLP = "mlp", "MLP VAE (paper)"
    CONV = "conv", "Convolutional VAE"


class TrainedModel(Freezable, WorkRow):
    """A VAE trained (or being trained) on a dataset, with its checkpoint and activation profile."""

    frozen_fields = ("dataset", "folder_path", "architecture", "latent_dim", "epochs", "seed", "train_limit",
                     "profile_layer")
    copy_label = "Copy as a new model"

    name = models.CharField(max_length=200)
    dataset = models.CharField(max_length=20, choices=Dataset.choices, default=Dataset.MNIST)
    # For dataset == "folder": the image folder on the workers' shared disk.
    folder_path = models.CharField(max_length=500, blank=True)
    architecture = models.CharField(max_length=10, choices=Architecture.choices, default=Architecture.MLP)
    latent_dim = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: 50, or 100 for MNIST + Fashion-MNIST.")
    epochs = models.PositiveIntegerField(default=15)
    seed = models.BigIntegerField(default=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)])
    train_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Train on the first N images only (empty: all).")
    profile_layer = models.CharField(max_length=100, blank=True, help_text="Decoder layer to profile (empty: the 3rd hidden layer).")

    checkpoint = models.FileField(upload_to="checkpoints/", blank=True)
    # The small CNN of the surrogate metrics (creative_core.classifier), trained on the data surrogate_recipe names.
    classifier = models.FileField(upload_to="classifiers/", blank=True)
    metrics = models.JSONField(default=dict, blank=True)  # test ELBO, reconstruction error, timings...

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ready(self) -> bool:
        return self.status == JobStatus.SUCCEEDED and bool(self.checkpoint)

    @property
    def dataset_name(self) -> str:
        """The name creative_core knows the data set by."""
        return f"folder:{self.folder_path}" if self.dataset == Dataset.FOLDER else self.dataset

    def frozen_reason(self) -> str:
        if self.status == JobStatus.QUEUED:
            return ""
        return (f"Training has left the queue ({self.get_status_display().lower()}): "
                "the checkpoint and its profile come from these settings.")

    def clean(self) -> None:
        self.clean_frozen()
        if self.dataset == Dataset.FOLDER and not self.folder_path:
            raise ValidationError({"folder_path": "An image-folder data set needs the folder's path."})
        if self.dataset != Dataset.FOLDER and self.folder_path:
            raise ValidationError({"folder_path": "Only an image-folder data set takes a folder path."})
        if self.epochs < 1:
            raise ValidationError({"epochs": "Train for at least one epoch."})


def scheme_problem(schemes) -> str:
    """Why a job's schemes cannot run (empty when they can): checked with creative_core itself."""
    import creative_core as cc

    if not isinstance(schemes, dict) or not schemes:
        return 'Give at least one scheme, as {"scheme name": {parameters}}.'
    for name, params in schemes.items():
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return f"The parameters of scheme {name!r} must be an object of name: value."
        try:
            cc.make_scheme(name, **params)
        except (ValueError, TypeError) as exc:
            return f"Scheme {name!r}: {exc}"
    return ""


def default_schemes() -> dict:
    """All four schemes with their documented defaults, as a new job starts."""
    import creative_core as cc

    return {name: cc.scheme_defaults(name) for name in cc.SCHEME_NAMES}


class GenerationJob(Freezable, WorkRow):
    """Generate `samples_per_scheme` samples with each decoding scheme and measure their D_r."""

    frozen_fields = ("trained_model", "layer", "schemes", "samples_per_scheme", "seed", "optimise_dr",
                     "optimise_steps", "write_all_images", "match_novelty")
    copy_label = "Copy as a new job"

    trained_model = models.ForeignKey(TrainedModel, on_delete=models.PROTECT, related_name="jobs")
    layer = models.CharField(max_length=100, blank=True, help_text="Empty: the decoder's 3rd hidden layer.")
    # {"regular": {}, "noisy": {"fraction": 0.1, ...}, "random_flip": {...}, "low_active": {...}}
    schemes = models.JSONField(default=default_schemes)
    samples_per_scheme = models.PositiveIntegerField(
        default=DEFAULT_SAMPLES_PER_SCHEME, validators=[MinValueValidator(1), MaxValueValidator(MAX_SAMPLES_PER_SCHEME)],
        help_text=f"{DEFAULT_SAMPLES_PER_SCHEME:,} finish in minutes on a CPU; the paper used {PAPER_SAMPLES_PER_SCHEME:,} "
        f"per scheme (at most {MAX_SAMPLES_PER_SCHEME:,}).",
    )
    # One seed rule for every form: the pool's (0 to 2**32 - 1).
    seed = models.BigIntegerField(default=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)])
    optimise_dr = models.BooleanField(
        default=True,
        help_text="Also compute the optimised D_r (the true minimum over z, besides the encoder's estimate). It is the "
        "longest step: with 200 steps about 40 s per 1,000 samples of each scheme on one CPU core (3 minutes for the "
        "default job of 4 schemes x 1,000), seconds on a GPU. Off: the amortised D_r only, in seconds.",
    )
    write_all_images = models.BooleanField(default=False, help_text="Write a PNG and a row for every sample, not only pooled ones.")
    optimise_steps = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Most gradient steps of the optimised D_r per batch.",
    )

    match_novelty = models.BooleanField(
        default=False, verbose_name="Matched novelty",
        help_text="Random flip writes the level at which its mean amortised D_r equals low-active's (found by "
        "bisection on the job's first samples, within 1%), so that a human study compares the two at equal novelty "
        "and measures what is left: meaningfulness. Needs both schemes. The level found is stored with the job.",
    )
    # With match_novelty: {"target_scheme", "target_dr", "calibration_samples", "schemes": {name: {"level", "dr"}}}
    matching = models.JSONField(default=dict, blank=True)

    timings = models.JSONField(default=dict, blank=True)  # seconds per phase
    # Compact results of every sample: scheme index, units, noise seed, z, D_r (amortised, optimised).
    results = models.FileField(upload_to="results/", blank=True)
    # Per scheme: {"n": ..., "dr_amortised_mean": ..., "dr_optimised_mean": ..., "converged": ...}
    summary = models.JSONField(default=dict, blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Job {self.pk} on {self.trained_model}"

    def matching_text(self) -> str:
        """The matched-novelty statement for the job page, the pool page and the report."""
        m = self.matching or {}
        if not self.match_novelty:
            return "Not matched: each switching scheme writes its own configured level."
        if not m.get("schemes"):
            return "Matched novelty: the level is found when the job runs."
        def said(name: str) -> str:
            return {"low_active": "low-active", "random_flip": "random flip"}.get(name, name.replace("_", " "))

        parts = [f"{said(name)} writes level {v['level']:.3f} (mean D_r {v['dr']:.3f})"
                 for name, v in m["schemes"].items()]
        return (f"Matched novelty: {'; '.join(parts)}, to equal {said(m['target_scheme'])}'s mean "
                f"amortised D_r {m['target_dr']:.3f} on the job's first {m['calibration_samples']:,} samples.")

    def frozen_reason(self) -> str:
        if self.status == JobStatus.QUEUED:
            return ""
        return (f"This job has left the queue ({self.get_status_display().lower()}): "
                "its samples and results are made with these settings.")

    def clean(self) -> None:
        self.clean_frozen()
        errors: dict[str, str] = {}
        model = getattr(self, "trained_model", None) if self.trained_model_id else None
        if model is not None and not model.is_ready and self.status == JobStatus.QUEUED:
            errors["trained_model"] = (
                f"The model {model} is not ready (training {model.get_status_display().lower()}); "
                "pick a model whose training succeeded."
            )
        if not (1 <= (self.samples_per_scheme or 0) <= MAX_SAMPLES_PER_SCHEME):
            errors["samples_per_scheme"] = f"Ask for between 1 and {MAX_SAMPLES_PER_SCHEME:,} samples per scheme."
        problem = scheme_problem(self.schemes)
        if problem:
            errors["schemes"] = problem
        elif self.match_novelty and not {"low_active", "random_flip"} <= set(self.schemes or {}):
            errors["match_novelty"] = ("Matched novelty sets random flip's level from low-active's D_r: "
                                       "keep both schemes, or turn it off.")
        if errors:
            raise ValidationError(errors)


def sample_image_path(instance: Sample, filename: str) -> str:
    # The file is named by the public id alone: no scheme, no job, no index.
    return f"samples/{instance.public_id}.png"


# A sample's measurements: D_r, then the surrogates beyond it (creative_core.SURROGATE_NAMES, in that order).
SURROGATE_FIELDS = ("entropy", "top_probability", "out_of_class_max", "out_of_class_count", "nn_pixels", "nn_features")
MEASURED_FIELDS = ("dr_amortised", "dr_optimised", "dr_converged", *SURROGATE_FIELDS)


class Sample(models.Model):
    """One generated image with its hidden provenance."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="samples")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    image = models.FileField(upload_to=sample_image_path, blank=True)

    # Hidden provenance: never shown to annotators.
    scheme = models.CharField(max_length=30)
    index = models.PositiveIntegerField()  # position within the scheme's samples of this job
    units = models.JSONField(default=list, blank=True)
    noise_seed = models.BigIntegerField(null=True, blank=True)
    z = models.JSONField(default=list, blank=True)
    dr_amortised = models.FloatField(null=True, blank=True)
    dr_optimised = models.FloatField(null=True, blank=True)
    dr_converged = models.BooleanField(null=True, blank=True)
    # Surrogates beyond D_r (creative_core.surrogates; empty where the model's classifier cannot give them).
    entropy = models.FloatField(null=True, blank=True, help_text="Predictive entropy of the classifier, nats.")
    top_probability = models.FloatField(null=True, blank=True, help_text="The classifier's top class probability.")
    out_of_class_max = models.FloatField(null=True, blank=True,
                                         help_text="Largest probability of a class outside the model's data set.")
    out_of_class_count = models.FloatField(null=True, blank=True,
                                           help_text="1 when the top class is outside the model's data set, above 0.95.")
    nn_pixels = models.FloatField(null=True, blank=True, help_text="L2 distance to the nearest training image, pixels.")
    nn_features = models.FloatField(null=True, blank=True,
                                    help_text="L2 distance to the nearest training image, classifier features.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "scheme", "index"], name="unique_sample_per_job_scheme_index")]

    def __str__(self) -> str:
        return self.public_id


class AttentionKind(models.TextChoices):
    """What a pool's attention checks show (their expected label is "not novel or creative" either way)."""

    RAW = "raw", "Training images"
    RECONSTRUCTION = "reconstruction", "Reconstructions of held-out images"
    BOTH = "both", "Both (half each)"


class SamplePool(Freezable, models.Model):
    """The images of a job shown to annotators: `per_scheme` samples of each scheme, shuffled."""

    frozen_fields = ("job", "per_scheme", "seed", "attention_kind")
    copy_label = "Build a sample pool"  # on the job's page

    job = models.ForeignKey(GenerationJob, on_delete=models.PROTECT, related_name="pools")
    name = models.CharField(max_length=200)
    per_scheme = models.PositiveIntegerField(default=125)
    seed = models.BigIntegerField(default=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)])
    # Researchers only, like every provenance field: an annotator is never told what an attention check is.
    attention_kind = models.CharField(
        "attention checks", max_length=20, choices=AttentionKind.choices, default=AttentionKind.RECONSTRUCTION,
        help_text="Raw training images look sharper than generated ones; reconstructions of held-out images "
                  "(encoder mean, regular decoding) pass through the same decoder as the pool.",
    )
    # generation.check_quality.CheckQuality as measured when the pool was built ({} for pools built before).
    check_quality = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def frozen_reason(self) -> str:
        return "A pool's images were drawn when it was built."

    def clean(self) -> None:
        self.clean_frozen()


class PoolBuild(WorkRow):
    """One request to build a sample pool, run by a worker of the "default" queue.

    The pool and its rows appear in one transaction at the end, when the build succeeds; until then its images wait in
    a staging folder of its own (see generation.services.pools), so a failed, cancelled or killed build leaves nothing.
    """

    again_hint = "Build the pool again from the job's page."

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="pool_builds")
    name = models.CharField(max_length=200, blank=True)
    per_scheme = models.PositiveIntegerField()
    attention_checks = models.PositiveIntegerField(default=0)
    attention_kind = models.CharField("attention checks show", max_length=20, choices=AttentionKind.choices,
                                      default=AttentionKind.RECONSTRUCTION)
    accept_spottable_checks = models.BooleanField(
        default=False, help_text="Build even when the attention checks can be told from the generated images, or the "
        "model's reconstructions have collapsed (the report says so).")
    seed = models.BigIntegerField(default=0, validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)])
    pool = models.OneToOneField(SamplePool, null=True, blank=True, on_delete=models.SET_NULL, related_name="build")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Pool build {self.pk} of job {self.job_id}"


def pool_item_image_path(instance: PoolItem, filename: str) -> str:
    return f"pool-items/{instance.public_id}.png"


class PoolItem(models.Model):
    """One image of a pool as annotators know it: an opaque id and an image, nothing more.

    An item either shows a generated sample, or (attention check) a training image or a reconstruction of a
    held-out one (the pool's `attention_kind`), whose expected label is "not novel or creative"; then `sample` is
    empty and `attention_image` holds the file.
    """

    pool = models.ForeignKey(SamplePool, on_delete=models.CASCADE, related_name="items")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    position = models.PositiveIntegerField()  # shuffled order; says nothing about the scheme
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="pool_items")
    attention_image = models.FileField(upload_to=pool_item_image_path, blank=True)
    # An attention check's kind ("raw" or "reconstruction"; "" for a generated sample): researchers only.
    check_kind = models.CharField(max_length=20, blank=True, default="", editable=False)

    class Meta:
        ordering = ["pool", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "position"], name="unique_pool_position"),
            models.UniqueConstraint(fields=["pool", "sample"], name="unique_pool_sample"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_attention_check(self) -> bool:
        return self.sample_id is None

    @property
    def image_file(self):
        return self.attention_image if self.is_attention_check else self.sample.image

    @property
    def scheme(self) -> str | None:
        """Researchers only."""
        return None if self.is_attention_check else self.sample.scheme
