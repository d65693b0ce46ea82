"""Scheme parameters are checked for sense against the layer they will run on, before any work."""

from __future__ import annotations

import pytest

import creative_core as cc


def test_it_measures_the_layer_without_data(tiny):
    assert cc.layer_size(tiny.model) == 1000  # the decoder's 3rd hidden layer of the paper's MLP
    assert cc.layer_size(tiny.model, cc.hidden_layer_names(tiny.model)[0]) == 250


def test_it_refuses_k_beyond_the_low_active_band(tiny_profile):
    n_low = cc.make_scheme("low_active").low_active_units(tiny_profile)[0].size
    assert 5 <= n_low < 1000
    problems = cc.check_schemes({"low_active": {"k": 1_000_000_000}}, 1000, tiny_profile)
    assert "low-active band" in problems["low_active"] and f"at most {n_low:,}" in problems["low_active"]
    assert "low_active" in cc.check_schemes({"low_active": {"k": n_low + 1}}, 1000, tiny_profile)
    assert cc.check_schemes({"low_active": {"k": n_low}}, 1000, tiny_profile) == {}


def test_without_a_profile_it_still_bounds_k_by_the_layer():
    assert "the layer has 1,000" in cc.check_schemes({"low_active": {"k": 1001}}, 1000)["low_active"]


def test_it_refuses_random_flip_switching_on_more_than_the_layer(tiny_profile):
    problems = cc.check_schemes({"random_flip": {"k": 1_000_000_000}}, 1000, tiny_profile)
    assert "at most 1,000" in problems["random_flip"]
    among_all = {"k": 1000, "candidates": "off_for_sample"}
    assert cc.check_schemes({"random_flip": among_all}, 1000, tiny_profile) == {}
    # by default it draws from the units that fire: no more than those
    firing = int((tiny_profile.max > 0).sum())
    assert f"at most {firing:,}" in cc.check_schemes({"random_flip": {"k": 1000}}, 1000, tiny_profile)["random_flip"]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_it_refuses_a_noise_fraction_outside_0_1(fraction):
    assert "(0, 1]" in cc.check_schemes({"noisy": {"fraction": fraction}}, 1000)["noisy"]


def test_the_defaults_fit(tiny_profile):
    specs = {name: cc.scheme_defaults(name) for name in cc.SCHEME_NAMES}
    assert cc.check_schemes(specs, tiny_profile.n_units, tiny_profile) == {}

