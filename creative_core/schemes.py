"""The four decoding schemes, and the paper's fifth baseline. Each rewrites one layer's output for a batch,
vectorised, from counter-based randomness (see randomness.py), and reports per sample which units it touched.

Parameters and their defaults (the paper's where it gives them):

regular      no parameters; the layer is left alone.
noisy        fraction=0.10, scale=1.0, rectify=True.
             Gaussian noise is added to a random `fraction` of the layer's units (10%: 100 of the MLP's 1000
             units), each with standard deviation `scale` x that unit's own standard deviation over the training
             data, so the noise is as large as the unit's natural variation and no larger. `rectify` clips the
             result at 0 so a ReLU layer stays non-negative. Chosen once, for every data set (never tuned per
             data set): the paper says only "Gaussian noise into a fraction of neurons", and a unit's own spread
             is the natural scale that needs no per-data-set constant. (5 noised units, as in an early trial, made
             noisy decoding indistinguishable from regular.)
random_flip  k=5, value="high_level", fallback="median_max", candidates="fires_sometimes".
             Switches on k units that are off (activity == 0) for that sample, chosen uniformly at random: only
             among the units that fire at least once on the training data ("fires_sometimes", the population
             low-active draws from), or among all the layer's units ("off_for_sample", never-firing ones
             included: the first choice, kept for the ablation).
low_active   k=5, band=(1.0, 15.0), band_over="firing", value="high_level", fallback="median_max",
             candidates="must_be_off".
             Low-active units: percent activation between the band's percentiles (inclusive) of the layer's units
             that fire at least once (band_over="firing"; "all" takes all units: on a trained MLP about 30% of the
             layer never fires, so a band over all units holds only dead units, and switching one on changes
             nothing). One low-active unit is picked at random, then its k-1
             most correlated low-active partners (a table precomputed per unit), and all k are switched on.
             candidates="must_be_off" (the paper's "'off' low-active neurons") picks the first unit among the
             band's units that are off for the sample, and its k-1 most correlated partners among those off too
             (fewer, padded with -1, when the sample has fewer than k band units off); "band" (the first choice,
             kept for the ablation) takes them whether or not they are already on for the sample.

How the defaults of random flip and low-active were chosen (once, for every data set; docs/explanation/method.md, "Ablation of the
unstated choices", which also says that a first ablation run on a small model preceded the principle): where the
paper's text names a choice, follow it ("'off' low-active neurons": must be off). The value written is not stated
by the paper at all ("co-activation of highly and weakly activated neurons" names which units, not a value), so the
default writes one real level of the layer, its highly activated units' mean maximum, for every unit; and a
baseline differs from the method in one factor only (random flip writes the same level and draws from the same
population of firing units; the paper's text-literal random flip, any unit off, is `candidates="off_for_sample"`).

interpolation  t="uniform".
             The paper's fifth baseline ("did not yield creative samples", result not shown): the latent of each
             sample is a point on the segment between the encoder means of two training images of different
             classes, decoded regularly (the layer is left alone). Per sample: image a uniformly among the training
             images, b's class uniformly among the other classes, b uniformly in that class, and the position
             t in (0, 1) uniformly ("uniform") or fixed (a number in [0, 1]; 0 gives a's decoding, 1 b's).
             Not among SCHEME_NAMES (the paper's Table 1 and a new job's defaults); a job runs it when named.

value: what a switched-on unit is set to: "unit_max" (the unit's maximum over the training data), "mean_active"
(its mean value when active), "percentile" (the 99th percentile of its active values, profile.p99_active; needs a
profile computed since p99_active exists), "layer_max" (the layer's largest maximum), "high_level" (one level for
every unit: the mean of the maxima of the top decile of firing units by maximum, i.e. of the units whose maximum
is at or above the 90th percentile of the firing units' maxima: the layer's "highly activated" level), or a number.
fallback: for units whose value is 0 because they never fired: "median_max" (the median of the maxima of units
that fire), or a number.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from .activations import ActivationProfile, unit_activity
from .randomness import STREAM_NOISE, STREAM_PAIRS, STREAM_UNITS, normal, sample_keys, uniform

SCHEME_NAMES = ("regular", "noisy", "random_flip", "low_active")
BASELINE_NAMES = ("interpolation",)  # further baselines a job can run by name
ALL_SCHEME_NAMES = SCHEME_NAMES + BASELINE_NAMES
VALUE_NAMES = ("unit_max", "mean_active", "percentile", "layer_max", "high_level")
RANDOM_FLIP_CANDIDATES = ("off_for_sample", "fires_sometimes")
LOW_ACTIVE_CANDIDATES = ("band", "must_be_off")


class Scheme:
    """Base: holds validated parameters; `prepare` builds tables from a profile; `apply` rewrites a batch."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise ValueError(f"unknown parameter {unknown[0]!r} for scheme {self.name!r}; allowed: {allowed}")
        self.params = {**self.defaults, **params}
        self.validate()
        self.info: dict[str, Any] = {}

    # True for a scheme that needs the model's training images (bind_data) before it can run.
    needs_data: ClassVar[bool] = False

    def validate(self) -> None:
        pass

    def check_fits(self, n_units: int, profile: ActivationProfile | None = None) -> None:
        """ValueError when the parameters make no sense on a layer of `n_units` units (with its profile, when known):
        checked where a job is entered, so one that cannot run is refused before any work."""

    def prepare(self, profile: ActivationProfile | None, device: torch.device) -> None:
        pass

    def latents(self, z: torch.Tensor, index: torch.Tensor, seed: int) -> torch.Tensor:
        """The latents to decode for samples `index`, given their standard-normal draws `z`."""
        return z

    def apply(self, h: torch.Tensor, index: torch.Tensor, seed: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(new output, units (B, k) int64 with -1 padding, noise seeds (B,) or None)."""
        return h, torch.empty(len(h), 0, dtype=torch.int64, device=h.device), None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    # helpers shared by the schemes that switch units on
    def _check_k(self) -> None:
        k = self.params["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"parameter 'k' of scheme {self.name!r} must be a positive integer, got {k!r}")
        v, fb = self.params["value"], self.params["fallback"]
        if not (v in VALUE_NAMES or _positive_number(v)):
            raise ValueError(f"parameter 'value' must be one of {VALUE_NAMES} or a positive number, got {v!r}")
        if not (fb == "median_max" or _positive_number(fb)):
            raise ValueError(f"parameter 'fallback' must be 'median_max' or a positive number, got {fb!r}")

    def _check_k_fits(self, available: int, what: str) -> None:
        k = self.params["k"]
        if k > available:
            raise ValueError(f"parameter 'k' of scheme {self.name!r} is {k:,}, but {what} {available:,} "
                             f"unit{'s' if available != 1 else ''}: ask for at most {available:,}")

    def _values(self, profile: ActivationProfile, device: torch.device) -> torch.Tensor:
        v = self.params["value"]
        if v == "unit_max":
            vals = profile.max.astype(np.float64)
        elif v == "mean_active":
            vals = profile.mean_active.astype(np.float64)
        elif v == "percentile":
            if profile.p99_active is None:
                raise ValueError(f"value 'percentile' of scheme {self.name!r} needs a profile with p99_active; "
                                 "this one was computed before it existed: profile the layer again")
            vals = profile.p99_active.astype(np.float64)
        elif v == "layer_max":
            vals = np.full(profile.n_units, float(profile.max.max()))
        elif v == "high_level":
            level = high_level(profile)
            self.info["high_level"] = level  # the one level written, stored with the results
            vals = np.full(profile.n_units, level)
        else:
            vals = np.full(profile.n_units, float(v))
        fb = self.params["fallback"]
        firing = profile.max > 0
        fb_value = float(np.median(profile.max[firing])) if fb == "median_max" and firing.any() else \
            1.0 if fb == "median_max" else float(fb)
        self.info["fallback_value"] = fb_value
        self.info["units_using_fallback"] = int((~(vals > 0)).sum())
        vals = np.where(vals > 0, vals, fb_value)
        return torch.as_tensor(vals, dtype=torch.float32, device=device)


def high_level(profile: ActivationProfile) -> float:
    """The layer's "highly activated" level: the mean maximum of the firing units whose maximum is at or above the
    90th percentile of the firing units' maxima (0 when no unit fires)."""
    m = profile.max[profile.max > 0].astype(np.float64)
    if not len(m):
        return 0.0
    return float(m[m >= np.percentile(m, 90)].mean())


def _pad(units: torch.Tensor, k: int) -> torch.Tensor:
    """(B, j) unit ids widened to (B, k) with -1 (no unit) when fewer than k could be picked."""
    if units.shape[1] >= k:
        return units
    return torch.cat([units, torch.full((len(units), k - units.shape[1]), -1, dtype=torch.int64, device=units.device)], 1)


def _check_choice(scheme: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"parameter {key!r} of scheme {scheme!r} must be one of {allowed}, got {value!r}")


def _positive_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def _need(profile: ActivationProfile | None, name: str) -> ActivationProfile:
    if profile is None:
        raise ValueError(f"scheme {name!r} needs an activation profile (run profile() first)")
    return profile


def unit_mask(units: torch.Tensor, n_units: int) -> torch.Tensor:
    """(B, n_units) bool from (B, k) unit ids with -1 padding."""
    mask = torch.zeros(len(units), n_units + 1, dtype=torch.bool, device=units.device)
    mask.scatter_(1, torch.where(units < 0, n_units, units), True)
    return mask[:, :n_units]


def _expand(t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Broadcast a (B, units) tensor over a conv layer's spatial dimensions."""
    return t.reshape(*t.shape, *([1] * (h.ndim - 2)))


def switch_on(h: torch.Tensor, units: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Set the given units of each sample to their values (a whole channel map for a conv layer)."""
    mask = _expand(unit_mask(units, h.shape[1]), h)
    return torch.where(mask, _expand(values[None, :].to(h.dtype), h), h)


class Regular(Scheme):
    name = "regular"
    defaults: ClassVar[dict[str, Any]] = {}


class Noisy(Scheme):
    name = "noisy"
    defaults: ClassVar[dict[str, Any]] = {"fraction": 0.10, "scale": 1.0, "rectify": True}

    def validate(self) -> None:
        f, s = self.params["fraction"], self.params["scale"]
        if not (_positive_number(f) and f <= 1):
            raise ValueError(f"parameter 'fraction' of scheme 'noisy' must be in (0, 1], got {f!r}")
        if not (_positive_number(s) or s == 0):
            raise ValueError(f"parameter 'scale' of scheme 'noisy' must be >= 0, got {s!r}")
        if not isinstance(self.params["rectify"], bool):
            raise ValueError("parameter 'rectify' of scheme 'noisy' must be True or False")

    def prepare(self, profile: ActivationProfile | None, device: torch.device) -> None:
        p = _need(profile, self.name)
        self.sd = torch.as_tensor(p.std, dtype=torch.float32, device=device) * float(self.params["scale"])
        self.k = max(1, round(self.params["fraction"] * p.n_units))
        self.info = {"units_noised": self.k, "mean_noise_sd": float(self.sd.mean())}

    def apply(self, h, index, seed):
        b, u = h.shape[0], h.shape[1]
        units = uniform(sample_keys(seed, STREAM_UNITS, index), u).topk(self.k, dim=1).indices
        noise_seed = sample_keys(seed, STREAM_NOISE, index)
        noise = normal(noise_seed, h[0].numel()).to(h.dtype).reshape(h.shape)
        mask = _expand(unit_mask(units, u), h)
        out = h + torch.where(mask, noise * _expand(self.sd[None, :].expand(b, u), h), torch.zeros_like(h))
        if self.params["rectify"]:
            out = out.clamp_min(0)
        return out, units, noise_seed


class RandomFlip(Scheme):
    name = "random_flip"
    defaults: ClassVar[dict[str, Any]] = {"k": 5, "value": "high_level", "fallback": "median_max",
                                          "candidates": "fires_sometimes"}

    def validate(self) -> None:
        self._check_k()
        _check_choice(self.name, "candidates", self.params["candidates"], RANDOM_FLIP_CANDIDATES)

    def check_fits(self, n_units: int, profile: ActivationProfile | None = None) -> None:
        # Switching on every unit of the layer is no longer a "few neurons": refuse more than the layer has.
        self._check_k_fits(n_units, "the layer has")
        if profile is not None and self.params["candidates"] == "fires_sometimes":
            self._check_k_fits(int((profile.max > 0).sum()), f"layer {profile.layer!r} has firing")

    def prepare(self, profile: ActivationProfile | None, device: torch.device) -> None:
        p = _need(profile, self.name)
        self.values = self._values(p, device)
        self.never = None
        if self.params["candidates"] == "fires_sometimes":
            self.never = torch.as_tensor(~(p.max > 0), dtype=torch.bool, device=device)  # (units,)
            self.info["n_candidates"] = int((~self.never).sum())

    def apply(self, h, index, seed):
        k = min(self.params["k"], h.shape[1])
        scores = uniform(sample_keys(seed, STREAM_UNITS, index), h.shape[1])
        scores = torch.where(unit_activity(h).to(scores.device) > 0, -1.0, scores)  # only units that are off
        if self.never is not None:
            scores = torch.where(self.never.to(scores.device)[None, :], -1.0, scores)  # ... and fire sometimes
        top = scores.topk(k, dim=1)
        units = torch.where(top.values > 0, top.indices, -1)
        return switch_on(h, units, self.values), units, None


class LowActive(Scheme):
    name = "low_active"
    defaults: ClassVar[dict[str, Any]] = {"k": 5, "band": (1.0, 15.0), "band_over": "firing",
                                          "value": "high_level", "fallback": "median_max",
                                          "candidates": "must_be_off"}

    def validate(self) -> None:
        self._check_k()
        _check_choice(self.name, "candidates", self.params["candidates"], LOW_ACTIVE_CANDIDATES)
        band = self.params["band"]
        try:
            lo, hi = (float(b) for b in band)
        except (TypeError, ValueError):
            raise ValueError(f"parameter 'band' of scheme 'low_active' must be two percentiles, got {band!r}") from None
        if not 0 <= lo <= hi <= 100:
            raise ValueError(f"parameter 'band' must satisfy 0 <= low <= high <= 100, got {band!r}")
        self.params["band"] = (lo, hi)
        if self.params["band_over"] not in ("firing", "all"):
            raise ValueError(f"parameter 'band_over' must be 'firing' or 'all', got {self.params['band_over']!r}")

    def low_active_units(self, p: ActivationProfile) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(the band's units, the units the band is taken over, the band in percent activation)."""
        pa = p.percent_active.astype(np.float64)
        pool = pa > 0 if self.params["band_over"] == "firing" else np.ones_like(pa, dtype=bool)
        if not pool.any():
            raise ValueError(f"no unit of layer {p.layer!r} fires on the training data; cannot pick low-active units")
        lo, hi = np.percentile(pa[pool], self.params["band"])
        return np.flatnonzero(pool & (pa >= lo) & (pa <= hi)), pool, (float(lo), float(hi))

    def check_fits(self, n_units: int, profile: ActivationProfile | None = None) -> None:
        if profile is None:  # the band is known only with the layer's profile
            self._check_k_fits(n_units, "the layer has")
            return
        low, _pool, _band = self.low_active_units(profile)
        self._check_k_fits(len(low), f"the low-active band {tuple(self.params['band'])} (percentiles of percent "
                                     f"activation) of layer {profile.layer!r} holds")

    def prepare(self, profile: ActivationProfile | None, device: torch.device) -> None:
        p = _need(profile, self.name)
        self.values = self._values(p, device)
        low, pool, (lo, hi) = self.low_active_units(p)
        k = min(self.params["k"], len(low))
        corr = p.corr[np.ix_(low, low)].astype(np.float64)
        np.fill_diagonal(corr, np.inf)  # the picked unit itself comes first in its own row
        order = np.argsort(-corr, axis=1, kind="stable")  # every partner in order, as positions in `low`
        self.low = torch.as_tensor(low, dtype=torch.int64, device=device)
        self.table = self.low[torch.as_tensor(order[:, :k], device=device)]  # (n_low, k) unit ids
        if self.params["candidates"] == "must_be_off":
            self.full_order = torch.as_tensor(order, device=device)
        self.info.update({"band_percent_active": [float(lo), float(hi)], "n_low_active": int(len(low)),
                          "n_pool": int(pool.sum())})

    def apply(self, h, index, seed):
        if self.params["candidates"] == "must_be_off":
            return self._apply_off(h, index, seed)
        u = uniform(sample_keys(seed, STREAM_UNITS, index), 1)[:, 0]
        pick = (u * len(self.low)).long().clamp_max(len(self.low) - 1).to(self.table.device)
        units = _pad(self.table[pick], self.params["k"])
        return switch_on(h, units, self.values), units, None

    def _apply_off(self, h, index, seed):
        """candidates="must_be_off": the first unit uniformly among the band's units off for the sample, then its
        most correlated partners among those off, in the order of the correlation table."""
        k, n_low = self.params["k"], len(self.low)
        low = self.low.to(h.device)
        off = unit_activity(h)[:, low] <= 0  # (B, n_low)
        scores = uniform(sample_keys(seed, STREAM_UNITS, index), n_low).to(h.device)
        first = torch.where(off, scores, -1.0).argmax(1)  # (B,) position in low
        rows = self.full_order.to(h.device)[first]  # (B, n_low) positions, the first unit itself leading
        ok = off.gather(1, rows)
        rank = torch.arange(n_low, 0, -1, device=h.device, dtype=torch.float32)  # earlier in the row = higher
        top = torch.where(ok, rank, 0.0).topk(min(k, n_low), dim=1)
        picked = rows.gather(1, top.indices)
        units = _pad(torch.where(top.values > 0, low[picked], -1), k)
        return switch_on(h, units, self.values), units, None


class Interpolation(Scheme):
    name = "interpolation"
    defaults: ClassVar[dict[str, Any]] = {"t": "uniform"}
    needs_data = True

    def validate(self) -> None:
        t = self.params["t"]
        if not (t == "uniform" or (isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t <= 1)):
            raise ValueError(f"parameter 't' of scheme 'interpolation' must be 'uniform' or in [0, 1], got {t!r}")

    @torch.no_grad()
    def bind_data(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  device: torch.device, batch_size: int = 1000) -> None:
        """Encode the training images (encoder means), grouped by class; `images[i]` is training image i."""
        labels = torch.as_tensor(labels, dtype=torch.int64)
        mu = torch.cat([model.encode(x.to(device))[0] for x in images.split(batch_size)])
        order = torch.sort(labels, stable=True).indices
        classes, counts = torch.unique_consecutive(labels[order], return_counts=True)
        if len(classes) < 2:
            raise ValueError("scheme 'interpolation' needs training images of at least two classes")
        self.anchors = mu  # (N, zdim): training image i's encoder mean
        self.by_class = order.to(device)  # training image indices, sorted by class
        self.class_of = torch.repeat_interleave(torch.arange(len(classes)), counts).to(device)  # per sorted position
        self.class_count = counts.to(device)
        self.class_start = (torch.cumsum(counts, 0) - counts).to(device)
        self.info.update({"training_images": int(len(labels)), "classes": int(len(classes))})

    def endpoints(self, index: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a, b, t) per sample: the two training images' indices and the position between them."""
        dev = self.anchors.device
        u = uniform(sample_keys(seed, STREAM_PAIRS, index), 4).to(dev)
        n, c = len(self.anchors), len(self.class_count)
        pa = (u[:, 0] * n).long().clamp_max(n - 1)
        other = (self.class_of[pa] + 1 + (u[:, 1] * (c - 1)).long().clamp_max(c - 2)) % c
        pb = self.class_start[other] + (u[:, 2] * self.class_count[other]).long().clamp_max(self.class_count[other] - 1)
        t = u[:, 3] if self.params["t"] == "uniform" else torch.full_like(u[:, 3], float(self.params["t"]))
        return self.by_class[pa], self.by_class[pb], t.float()

    def latents(self, z, index, seed):
        if not hasattr(self, "anchors"):
            raise ValueError("scheme 'interpolation' needs the training images (bind_data) first")
        a, b, t = self.endpoints(index.to(self.anchors.device), seed)
        t = t[:, None]
        return ((1 - t) * self.anchors[a] + t * self.anchors[b]).to(z.device, z.dtype)


SCHEMES: dict[str, type[Scheme]] = {c.name: c for c in (Regular, Noisy, RandomFlip, LowActive, Interpolation)}


def make_scheme(name: str, **params: Any) -> Scheme:
    """A scheme by name; ValueError names an unknown scheme or parameter and lists the allowed ones."""
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; allowed: {', '.join(ALL_SCHEME_NAMES)}")
    return SCHEMES[name](**params)


def check_schemes(specs: dict[str, dict | None], n_units: int, profile: ActivationProfile | None = None
                  ) -> dict[str, str]:
    """{scheme name: why it cannot run} for schemes given as {name: parameters}, on a layer of `n_units` units with
    its activation profile when known (then the low-active band is checked too). Empty when all can run."""
    problems: dict[str, str] = {}
    for name, params in specs.items():
        try:
            make_scheme(name, **(params or {})).check_fits(n_units, profile)
        except (ValueError, TypeError) as exc:
            problems[name] = str(exc)
    return problems


def scheme_defaults(name: str) -> dict:
    """The documented default parameters of a scheme."""
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; allowed: {', '.join(ALL_SCHEME_NAMES)}")
    return dict(SCHEMES[name].defaults)
