from __future__ import annotations

import numpy as np
import pytest
import torch

import creative_core as cc
from creative_core.datasets import training_set
from creative_core.sampling import latents

from .conftest import layer_io

N = 200


def _z(model, n=N, seed=0):
    return latents(seed, torch.arange(n), model.latent_dim)


def test_regular_changes_nothing(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, "regular", 50, seed=3, progress=False)
    with torch.no_grad():
        assert torch.equal(s.images, tiny.model.decode(s.z))
    assert s.units.shape == (50, 0) and s.noise_seed is None and s.scheme == "regular"


def test_low_active_switches_on_exactly_k_units_in_the_band_at_their_max(tiny, tiny_profile):
    scheme = cc.make_scheme("low_active", value="unit_max", candidates="band")  # the first choices
    before, after = layer_io(tiny.model, _z(tiny.model), scheme, tiny_profile)
    s = cc.generate(tiny.model, tiny_profile, cc.make_scheme("low_active", value="unit_max", candidates="band"), N,
                    seed=0, progress=False)
    pa = tiny_profile.percent_active
    firing = pa[pa > 0]
    lo, hi = np.percentile(firing, [1, 15])
    units = s.units.numpy()
    assert units.shape == (N, 5) and (units >= 0).all()
    assert all(len(set(row)) == 5 for row in units)
    assert ((pa[units] >= lo) & (pa[units] <= hi) & (pa[units] > 0)).all()
    rows = np.arange(N)[:, None]
    np.testing.assert_allclose(after.numpy()[rows, units], tiny_profile.max[units])
    changed = (after != before).numpy()
    touched = np.zeros_like(changed)
    touched[rows, units] = True
    assert not (changed & ~touched).any()  # nothing else moved
    # the partners are the picked unit's most correlated low-active units
    low = np.flatnonzero((pa > 0) & (pa >= lo) & (pa <= hi))
    first = units[0, 0]
    corr = tiny_profile.corr[first, low].copy()
    corr[low == first] = -np.inf
    assert set(units[0, 1:]) == set(low[np.argsort(-corr)[:4]])


def test_low_active_band_over_all_units_is_a_parameter(tiny, tiny_profile):
    s = cc.make_scheme("low_active", band_over="all", band=(0, 100))
    s.prepare(tiny_profile, torch.device("cpu"))
    assert s.info["n_low_active"] == tiny_profile.n_units


def test_random_flip_picks_only_units_that_were_off(tiny, tiny_profile):
    scheme = cc.make_scheme("random_flip", k=7, value="unit_max", candidates="off_for_sample")  # the first choices
    before, after = layer_io(tiny.model, _z(tiny.model), scheme, tiny_profile)
    s = cc.generate(tiny.model, tiny_profile, scheme, N, seed=0, progress=False)
    units = s.units.numpy()
    rows = np.arange(N)[:, None]
    assert units.shape == (N, 7) and (units >= 0).all()
    assert (before.numpy()[rows, units] == 0).all()
    expected = np.where(tiny_profile.max > 0, tiny_profile.max, np.median(tiny_profile.max[tiny_profile.max > 0]))
    np.testing.assert_allclose(after.numpy()[rows, units], expected[units])
    assert int((after != before).sum()) <= N * 7


def test_noisy_noises_a_tenth_of_the_units_and_nothing_else(tiny, tiny_profile):
    scheme = cc.make_scheme("noisy")
    before, after = layer_io(tiny.model, _z(tiny.model), scheme, tiny_profile)
    s = cc.generate(tiny.model, tiny_profile, "noisy", N, seed=0, progress=False)
    assert s.units.shape == (N, 100) and s.noise_seed.shape == (N,) and s.noise_seed.dtype == torch.int64
    changed = (after != before).numpy()
    touched = np.zeros_like(changed)
    touched[np.arange(N)[:, None], s.units.numpy()] = True
    assert not (changed & ~touched).any()
    assert changed.sum() > 0 and (after >= 0).all()


def test_the_same_seed_gives_the_same_samples(tiny, tiny_profile):
    for name in cc.SCHEME_NAMES:
        a = cc.generate(tiny.model, tiny_profile, name, 30, seed=11, progress=False)
        b = cc.generate(tiny.model, tiny_profile, name, 30, seed=11, progress=False)
        c = cc.generate(tiny.model, tiny_profile, name, 30, seed=12, progress=False)
        assert torch.equal(a.images, b.images) and torch.equal(a.units, b.units)
        assert not torch.equal(a.z, c.z)


def test_samples_do_not_depend_on_batch_size_or_start(tiny, tiny_profile):
    for name in cc.SCHEME_NAMES:
        whole = cc.generate(tiny.model, tiny_profile, name, 40, seed=5, batch_size=1000, progress=False)
        small = cc.generate(tiny.model, tiny_profile, name, 40, seed=5, batch_size=7, progress=False)
        tail = cc.generate(tiny.model, tiny_profile, name, 15, seed=5, start=25, batch_size=4, progress=False)
        torch.testing.assert_close(whole.images, small.images, atol=1e-6, rtol=0)
        assert torch.equal(whole.units, small.units)
        torch.testing.assert_close(whole.images[25:], tail.images, atol=1e-6, rtol=0)
        assert torch.equal(whole.z[25:], tail.z)


def test_schemes_share_the_latents_of_a_seed(tiny, tiny_profile):
    a = cc.generate(tiny.model, tiny_profile, "regular", 10, seed=2, progress=False)
    b = cc.generate(tiny.model, tiny_profile, "low_active", 10, seed=2, progress=False)
    assert torch.equal(a.z, b.z) and not torch.equal(a.images, b.images)


def test_on_batch_reports_progress(tiny, tiny_profile):
    calls = []
    cc.generate(tiny.model, tiny_profile, "regular", 25, seed=0, batch_size=10, progress=False,
                on_batch=lambda done, n: calls.append((done, n)))
    assert calls == [(10, 25), (20, 25), (25, 25)]


def test_make_scheme_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="unknown parameter 'kk' for scheme 'low_active'; allowed: k, band"):
        cc.make_scheme("low_active", kk=3)
    with pytest.raises(ValueError, match="unknown scheme 'creative'; allowed: regular, noisy"):
        cc.make_scheme("creative")
    with pytest.raises(ValueError, match="'k'"):
        cc.make_scheme("random_flip", k=0)
    with pytest.raises(ValueError, match="'fraction'"):
        cc.make_scheme("noisy", fraction=1.5)
    with pytest.raises(ValueError, match="'band'"):
        cc.make_scheme("low_active", band=(20, 10))


def test_scheme_defaults_are_the_documented_ones():
    assert cc.scheme_defaults("low_active") == {"k": 5, "band": (1.0, 15.0), "band_over": "firing",
                                                "value": "high_level", "fallback": "median_max",
                                                "candidates": "must_be_off"}
    assert cc.scheme_defaults("random_flip") == {"k": 5, "value": "high_level", "fallback": "median_max",
                                                 "candidates": "fires_sometimes"}
    # the variant the ablation calls "all three" is the default of both schemes
    from creative_core.ablation import VARIANTS

    _what, flip, low = VARIANTS["all three"]
    assert {**cc.scheme_defaults("random_flip"), **flip} == cc.scheme_defaults("random_flip")
    assert {**cc.scheme_defaults("low_active"), **low} == cc.scheme_defaults("low_active")
    assert cc.scheme_defaults("noisy") == {"fraction": 0.10, "scale": 1.0, "rectify": True}
    assert cc.scheme_defaults("regular") == {}
    assert cc.make_scheme("random_flip", k=3).params["k"] == 3


def _interpolation(tiny, tiny_profile, data_root, n=N, **params):
    scheme = cc.make_scheme("interpolation", **params)
    s = cc.generate(tiny.model, tiny_profile, scheme, n, seed=0, progress=False, root=data_root, limit=2000)
    return scheme, s


def test_interpolation_endpoints_decode_to_their_regular_decodings(tiny, tiny_profile, data_root):
    train = training_set("mnist", root=data_root, limit=2000)
    for t, end in ((0, 0), (1, 1)):
        scheme, s = _interpolation(tiny, tiny_profile, data_root, n=30, t=t)
        x = train.images[scheme.endpoints(torch.arange(30), 0)[end].cpu()]
        with torch.no_grad():
            expected = tiny.model.decode(tiny.model.encode(x)[0])
        torch.testing.assert_close(s.images, expected, atol=1e-5, rtol=1e-5)
        assert s.units.shape == (30, 0) and s.noise_seed is None


def test_interpolation_pairs_images_of_different_classes_on_the_segment(tiny, tiny_profile, data_root):
    train = training_set("mnist", root=data_root, limit=2000)
    scheme, s = _interpolation(tiny, tiny_profile, data_root)
    a, b, t = scheme.endpoints(torch.arange(N), 0)
    assert (train.labels[a] != train.labels[b]).all()
    assert len(torch.unique(train.labels[a])) == len(torch.unique(train.labels[b])) == 10
    assert ((t > 0) & (t < 1)).all() and float(t.std()) > 0.2
    with torch.no_grad():
        za, zb = (tiny.model.encode(train.images[i])[0] for i in (a, b))
    torch.testing.assert_close(s.z, (1 - t[:, None]) * za + t[:, None] * zb, atol=1e-5, rtol=1e-5)
    # decoded regularly: the layer is left alone
    with torch.no_grad():
        torch.testing.assert_close(s.images, tiny.model.decode(s.z))


def test_interpolation_samples_do_not_depend_on_batch_size_or_start(tiny, tiny_profile, data_root):
    scheme = cc.make_scheme("interpolation")
    whole = cc.generate(tiny.model, tiny_profile, scheme, 40, seed=5, progress=False, root=data_root, limit=2000)
    parts = [cc.generate(tiny.model, tiny_profile, scheme, 15, seed=5, progress=False, root=data_root, limit=2000,
                         start=s, batch_size=4) for s in (0, 15)]
    torch.testing.assert_close(whole.images[:30], torch.cat([p.images for p in parts]))
    other = cc.generate(tiny.model, tiny_profile, scheme, 40, seed=6, progress=False, root=data_root, limit=2000)
    assert not torch.allclose(whole.z, other.z)


def test_interpolation_is_a_named_baseline_not_a_default_scheme():
    assert "interpolation" not in cc.SCHEME_NAMES and "interpolation" in cc.ALL_SCHEME_NAMES
    assert cc.scheme_defaults("interpolation") == {"t": "uniform"}
    with pytest.raises(ValueError, match="'t'"):
        cc.make_scheme("interpolation", t=1.5)


def test_by_default_both_switching_schemes_write_the_layers_high_level_into_units_that_were_off(tiny, tiny_profile):
    """The chosen defaults: one level (the highly activated units') for both; only units off for the sample; random
    flip only among units that fire in training."""
    from creative_core.schemes import high_level

    level = high_level(tiny_profile)
    firing = set(np.flatnonzero(tiny_profile.max > 0).tolist())
    for name in ("low_active", "random_flip"):
        z = _z(tiny.model)
        before, after = layer_io(tiny.model, z, cc.make_scheme(name), tiny_profile)
        scheme = cc.make_scheme(name)
        scheme.prepare(tiny_profile, torch.device("cpu"))
        _out, units, _ = scheme.apply(before.clone(), torch.arange(N), 0)
        u = units.numpy()
        valid = u >= 0
        rows = np.broadcast_to(np.arange(N)[:, None], u.shape)
        assert valid.mean() > 0.9, name
        assert (before.numpy()[rows[valid], u[valid]] == 0).all(), name  # off for the sample
        np.testing.assert_allclose(after.numpy()[rows[valid], u[valid]], level, rtol=1e-6)
        assert set(u[valid].tolist()) <= firing, name
