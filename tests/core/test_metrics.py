from __future__ import annotations

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
