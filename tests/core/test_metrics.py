from __future__ import annotations

import pytest
import torch

import creative_core as cc


def test_amortised_dr_is_the_encoder_reconstruction_distance(tiny):
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        expected = (x - tiny.model.decode(tiny.model.encode(x)[0])).flatten(1).norm(dim=1)
    torch.testing.assert_close(cc.dr_amortised(tiny.model, x, batch_size=2), expected)


def test_optimised_dr_is_below_amortised_on_regular_samples(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, "regular", 40, seed=0, progress=False)
    am = cc.dr_amortised(tiny.model, s.images)
    opt = cc.dr_optimised(tiny.model, s.images, steps=60, batch_size=16, progress=False)
    assert opt.values.shape == (40,) and opt.converged.dtype == torch.bool
    assert (opt.values <= am + 1e-6).all()
    assert float(opt.values.mean()) < 0.7 * float(am.mean())
    assert 1 <= opt.steps <= 60
    assert all(p.requires_grad for p in tiny.model.parameters())  # the model is left as it was


def test_optimised_dr_stops_early_when_converged(tiny):
    x = torch.rand(4, 1, 28, 28)
    opt = cc.dr_optimised(tiny.model, x, steps=500, tol=10.0, progress=False)
    assert opt.converged.all() and opt.steps == 2


def _reference_dr(model, x, steps, lr=0.05):
    """The optimised D_r by torch.optim.Adam over all steps (best value seen), as a plain reference."""
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            z = model.encode(x)[0]
        z.requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        best = torch.full((len(x),), torch.inf)
        for _ in range(steps):
            d = (x - model.decode(z)).flatten(1).norm(dim=1)
            best = torch.minimum(best, d.detach())
            opt.zero_grad()
            d.sum().backward()
            opt.step()
        with torch.no_grad():
            return torch.minimum(best, (x - model.decode(z)).flatten(1).norm(dim=1))
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def test_optimised_dr_is_adams_minimum(tiny, tiny_profile):
    x = cc.generate(tiny.model, tiny_profile, "low_active", 24, seed=0, progress=False).images
    opt = cc.dr_optimised(tiny.model, x, steps=30, tol=0.0, batch_size=10, progress=False)
    torch.testing.assert_close(opt.values, _reference_dr(tiny.model, x, 30), atol=1e-4, rtol=1e-4)
    assert opt.steps == 30 and not opt.converged.any()


def test_early_exit_stops_converged_samples_and_keeps_their_best(tiny, tiny_profile):
    x = cc.generate(tiny.model, tiny_profile, "low_active", 40, seed=0, progress=False).images
    full = cc.dr_optimised(tiny.model, x, steps=80, tol=1e-3, progress=False)
    fast = cc.dr_optimised(tiny.model, x, steps=80, tol=1e-3, progress=False, early_exit=True, check_every=5)
    assert torch.equal(fast.converged | ~full.converged, torch.ones(40, dtype=torch.bool))  # at least as many
    assert (fast.values >= full.values - 1e-5).all()  # never below what all the steps reach
    assert float((fast.values - full.values).abs().max()) < 0.05  # and close to it
    am = cc.dr_amortised(tiny.model, x)
    assert (fast.values <= am + 1e-6).all()


def test_more_starts_never_give_a_larger_distance(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, "low_active", 24, seed=0, progress=False)
    one = cc.dr_optimised(tiny.model, s.images, steps=20, tol=0.0, progress=False)
    many = cc.dr_optimised(tiny.model, s.images, steps=20, tol=0.0, progress=False, starts=[s.z], random_starts=1)
    assert (many.values <= one.values + 1e-6).all()
    assert float(many.values.mean()) < float(one.values.mean())  # the generating latent is a better start here


def test_the_generating_latent_finds_a_regular_samples_zero(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, "regular", 16, seed=3, progress=False)
    opt = cc.dr_optimised(tiny.model, s.images, steps=5, progress=False, starts=[s.z], batch_size=5)
    assert float(opt.values.max()) <= 0.005


def test_a_start_of_the_wrong_shape_is_refused(tiny):
    x = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="starting latent must have shape"):
        cc.dr_optimised(tiny.model, x, steps=2, progress=False, starts=[torch.zeros(3, tiny.model.latent_dim)])


def test_optimised_dr_reports_its_progress_step_by_step(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, "regular", 20, seed=0, progress=False)
    seen: list[float] = []
    opt = cc.dr_optimised(tiny.model, s.images, steps=10, tol=0.0, batch_size=8, progress=False, starts=[s.z],
                          on_progress=seen.append)
    quiet = cc.dr_optimised(tiny.model, s.images, steps=10, tol=0.0, batch_size=8, progress=False, starts=[s.z])
    torch.testing.assert_close(opt.values, quiet.values)  # reporting changes nothing
    assert seen == sorted(seen) and len(seen) == 3 * 2 * 10  # 3 batches x 2 starts x 10 steps, rising
    assert 0 < seen[0] < 0.1 and seen[-1] == 1.0
