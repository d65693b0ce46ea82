"""How well simple image statistics tell a pool's attention checks from its generated images.

An attention check only measures attention when it cannot be spotted by look. Five statistics that a glance takes
in (mean intensity, share of mid-grey pixels, maximum, sharpness as the mean gradient, Laplacian variance) feed a
small logistic regression; its cross-validated AUC (checks against generated images) is the pool's separability:
0.5 means the checks look like the pool, 1.0 means they can be picked out every time.

A model whose reconstructions collapsed (posterior collapse: the decoder draws the same grey blob for every input)
makes checks that are all alike. `reconstruction_spread` measures that: how much reconstructions vary from image
to image, relative to how much the images themselves vary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from django.conf import settings

STATISTICS = ("mean", "mid_grey_share", "maximum", "sharpness", "laplacian_variance")
MID_GREY = (0.2, 0.8)  # a pixel between these (of black 0 .. white 1) is mid-grey
FOLDS = 5
REPEATS = 5
MAX_GENERATED = 2000  # generated images measured at most (drawn at random): enough for a stable figure


def max_separability() -> float:
    """Above this cross-validated AUC a pool's checks count as spottable (settings.ATTENTION_MAX_SEPARABILITY)."""
    return float(getattr(settings, "ATTENTION_MAX_SEPARABILITY", 0.9))


def min_spread() -> float:
    """Below this reconstruction spread a model counts as collapsed (settings.ATTENTION_MIN_SPREAD)."""
    return float(getattr(settings, "ATTENTION_MIN_SPREAD", 0.25))


def image_statistics(image) -> np.ndarray:
    """The five statistics of one image: (C, H, W) or (H, W), values in [0, 1] (colour averaged to grey)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        a = a.mean(axis=0)
    gy, gx = np.gradient(a)
    lap = (-4 * a[1:-1, 1:-1] + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:])
    mid = ((a > MID_GREY[0]) & (a < MID_GREY[1])).mean()
    return np.array([a.mean(), mid, a.max(), np.hypot(gx, gy).mean(), lap.var()])


def png_statistics(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return image_statistics(np.asarray(img.convert("L"), dtype=np.float64) / 255.0)


def cross_validated_auc(checks: np.ndarray, generated: np.ndarray, seed: int = 0) -> float | None:
    """The AUC of a logistic regression on the statistics, out of fold (stratified, repeated); None when either
    side has fewer than two images (nothing to cross-validate)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(checks) < 2 or len(generated) < 2:
        return None
    x = np.vstack([checks, generated])
    y = np.r_[np.ones(len(checks)), np.zeros(len(generated))]
    folds = min(FOLDS, len(checks), len(generated))
    aucs = []
    for repeat in range(REPEATS):
        scores = np.zeros(len(y))
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed + repeat).split(x, y):
            if np.ptp(x[train], axis=0).max() == 0:  # every image alike: nothing to learn, nothing told apart
                scores[test] = 0.5
                continue
            fit = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x[train], y[train])
            scores[test] = fit.predict_proba(x[test])[:, 1]
        aucs.append(roc_auc_score(y, scores))
    return float(np.mean(aucs))


def single_aucs(checks: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """Each statistic alone: how well it orders checks against generated images (0.5 to 1, either direction)."""
    from sklearn.metrics import roc_auc_score

    if not len(checks) or not len(generated):
        return {}
    y = np.r_[np.ones(len(checks)), np.zeros(len(generated))]
    out = {}
    for k, name in enumerate(STATISTICS):
        auc = roc_auc_score(y, np.r_[checks[:, k], generated[:, k]])
        out[name] = round(float(max(auc, 1 - auc)), 3)
    return out


def reconstruction_spread(originals, reconstructions) -> float:
    """Pixel-wise spread across images of the reconstructions over that of the originals: about 1 for a model
    that reconstructs, near 0 for one that draws the same image whatever it is given."""
    o = np.asarray(originals, dtype=np.float64).reshape(len(originals), -1)
    r = np.asarray(reconstructions, dtype=np.float64).reshape(len(reconstructions), -1)
    own = o.std(axis=0).mean()
    return float(r.std(axis=0).mean() / own) if own > 0 else 0.0


@dataclass
class CheckQuality:
    """What the pool stores (SamplePool.check_quality) and the pool page and report show."""

    separability: float | None  # cross-validated AUC, checks of every kind against generated images
    by_kind: dict[str, float | None] = field(default_factory=dict)  # the same, per kind of check
    by_statistic: dict[str, float] = field(default_factory=dict)
    n_checks: int = 0
    n_generated: int = 0
    spread: float | None = None  # reconstruction_spread, when the pool has reconstructions
    threshold: float = 0.9
    min_spread: float = 0.25
    accepted: bool = False  # the researcher built it although the checks are spottable

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def spottable(self) -> bool:
        return self.separability is not None and self.separability > self.threshold

    @property
    def collapsed(self) -> bool:
        return self.spread is not None and self.spread < self.min_spread


def measure(check_stats: np.ndarray, kinds: list[str], generated_stats: np.ndarray, *,
            spread: float | None = None, seed: int = 0) -> CheckQuality:
    """The pool's figures from the statistics of its checks (with their kinds) and of its generated images."""
    kinds_arr = np.array(kinds, dtype=object)
    by_kind = {}
    for kind in sorted(set(kinds)):
        mine = check_stats[kinds_arr == kind]
        by_kind[kind] = _rounded(cross_validated_auc(mine, generated_stats, seed))
    return CheckQuality(
        separability=_rounded(cross_validated_auc(check_stats, generated_stats, seed)), by_kind=by_kind,
        by_statistic=single_aucs(check_stats, generated_stats), n_checks=len(check_stats),
        n_generated=len(generated_stats), spread=None if spread is None else round(spread, 3),
        threshold=max_separability(), min_spread=min_spread())


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def refusal(quality: CheckQuality, kind: str) -> str:
    """Why the pool is not built ("" when it may be): a collapsed model always, spottable checks unless accepted."""
    if quality.collapsed and not quality.accepted:
        return (f"The model's reconstructions have collapsed: they vary {quality.spread:.2f} times as much as the "
                f"images they reconstruct (below {quality.min_spread:.2f}), so every reconstruction check is the same "
                "blob and an honest 'inconclusive' on it would count as a failed check. Train the model longer (more "
                "images or epochs), or choose raw training images as attention checks; or tick \"Accept spottable "
                "checks\" to build it anyway (the report will say so).")
    if quality.spottable and not quality.accepted:
        strongest = max(quality.by_statistic.items(), key=lambda kv: kv[1], default=None)
        alone = (f" ({strongest[0].replace('_', ' ')} alone reaches {strongest[1]:.2f})" if strongest else "")
        remedies = ("train the model longer, choose raw training images, or ask for fewer checks"
                    if kind != "raw" else "choose reconstructions of held-out images, or ask for fewer checks")
        return (f"The attention checks can be told from the generated images by simple image statistics: "
                f"cross-validated AUC {quality.separability:.2f}, above the limit of {quality.threshold:.2f}{alone}. "
                f"Annotators could spot them by look, and the checks would then measure nothing. To fix it: "
                f"{remedies}; or tick \"Accept spottable checks\" to build it anyway (the report will say so).")
    return ""
