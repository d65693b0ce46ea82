"""Attention checks for a sample pool: images whose expected label is "not novel or creative".

Two kinds, chosen per pool (SamplePool.attention_kind):
- raw: training images as they are. They look sharper than anything the decoder makes, so an annotator can spot
  them by look, and the check then measures nothing.
- reconstruction: held-out (test-split) images passed through the model, decoded from the encoder mean with regular
  decoding. They have the decoder's size and softness, like every generated image, yet show a real, familiar
  image.
- both: half of each (the odd one is a reconstruction).

Every check is written as the same constant-length PNG as a generated sample (creative_core.to_png_bytes): neither
the pixels' sharpness nor the file's length may give a check away. Whether the pixels themselves give it away is
measured when the pool is built (generation.check_quality).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from .errors import JobError
from .models import AttentionKind, GenerationJob


def split(kind: str, n: int) -> tuple[int, int]:
    """(raw, reconstructions) out of n checks of this kind."""
    if kind == AttentionKind.RAW:
        return n, 0
    if kind == AttentionKind.RECONSTRUCTION:
        return 0, n
    if kind == AttentionKind.BOTH:
        return n // 2, n - n // 2
    raise JobError(f"Unknown kind of attention check {kind!r}; use one of {', '.join(AttentionKind.values)}.")


SPREAD_IMAGES = 64  # held-out images whose reconstructions tell whether the model collapsed


@dataclass
class Checks:
    """A pool's attention checks, not yet shuffled in: their PNGs, the kind of each, their image statistics, and
    (with reconstructions) how much the model's reconstructions vary (check_quality.reconstruction_spread)."""

    pngs: list[bytes] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    statistics: list = field(default_factory=list)
    spread: float | None = None


def check_images(job: GenerationJob, n: int, *, kind: str, seed: int, device: str) -> list[bytes]:
    """n attention-check PNGs for a pool of this job, of the given kind (not yet shuffled into the pool)."""
    return make_checks(job, n, kind=kind, seed=seed, device=device).pngs


def make_checks(job: GenerationJob, n: int, *, kind: str, seed: int, device: str) -> Checks:
    """n attention checks for a pool of this job, of the given kind: raw ones first, then reconstructions."""
    import creative_core as cc

    from .check_quality import png_statistics, reconstruction_spread

    n_raw, n_rec = split(kind, n)
    model_row = job.trained_model
    shape = (model_row.metrics or {}).get("input_shape") or [3, 64, 64]
    out = Checks()
    try:
        parts = []
        if n_raw:
            parts.append(("raw", cc.training_images(model_row.dataset_name, n_raw, seed=seed, root=settings.DATA_ROOT,
                                                    image_size=shape[-1], channels=shape[0])))
        if n_rec:
            # The same seed's first n_rec images are the checks; the rest only measure the spread.
            held_out = cc.training_images(model_row.dataset_name, max(n_rec, SPREAD_IMAGES), seed=seed,
                                          root=settings.DATA_ROOT, image_size=shape[-1], channels=shape[0],
                                          train=False)
            if len(held_out) < n_rec:
                raise JobError(f"The data set holds only {len(held_out)} held-out (test) images, fewer than the "
                               f"{n_rec} reconstructions asked for; ask for fewer attention checks.")
            rebuilt = cc.reconstruct(_model(job, device), held_out, device=device)
            out.spread = reconstruction_spread(held_out.cpu().numpy(), rebuilt.cpu().numpy())
            parts.append(("reconstruction", rebuilt[:n_rec]))
    except cc.DataError as exc:
        raise JobError(f"Images for attention checks cannot be loaded: {exc}") from exc
    for what, images in parts:
        for img in images:
            png = cc.to_png_bytes(img)
            out.pngs.append(png)
            out.kinds.append(what)
            out.statistics.append(png_statistics(png))  # of the file annotators see, as the pool's images
    return out


def _model(job: GenerationJob, device: str):
    import creative_core as cc

    model = job.trained_model
    try:
        return cc.load_checkpoint(model.checkpoint.path, device=device).model
    except (cc.CheckpointError, ValueError, OSError) as exc:
        raise JobError(f"The checkpoint of model {model} cannot be read ({exc}); reconstructions for attention "
                       "checks need it. Train the model again, or choose raw training images.") from exc
