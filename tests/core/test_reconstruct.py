"""Reconstructions (attention checks that look like the pool): decode(encoder mean) with regular decoding."""

from __future__ import annotations

import pytest
import torch

import creative_core as cc


def test_it_is_deterministic_and_has_the_pools_dimensions(tiny, tiny_profile, data_root):
    model = tiny.model.train()  # dropout on: reconstruct must switch it off
    x = cc.training_images("mnist", 12, seed=4, root=data_root, train=False)
    first = cc.reconstruct(model, x, device="cpu")
    again = cc.reconstruct(model, x, device="cpu")
    assert torch.equal(first, again)
    # Batches of any size give the same images (up to the float rounding of a differently shaped matmul).
    assert torch.allclose(first, cc.reconstruct(model, x, batch_size=5, device="cpu"), atol=1e-6)
    pool = cc.generate(model, tiny_profile, "regular", 3, seed=0, device="cpu", progress=False).images
    assert first.shape == (12, *pool.shape[1:]) == (12, 1, 28, 28)
    assert first.min() >= 0 and first.max() <= 1
    assert [cc.to_png_bytes(i) for i in first] == [cc.to_png_bytes(i) for i in again]


def test_it_decodes_the_encoder_mean_regularly(tiny, data_root):
    """The distance to the reconstruction is the amortised D_r, computed separately in metrics.py."""
    x = cc.training_images("mnist", 20, seed=1, root=data_root, train=False)
    rec = cc.reconstruct(tiny.model, x, device="cpu")
    assert torch.allclose((x - rec).flatten(1).norm(dim=1), cc.dr_amortised(tiny.model, x, device="cpu"), atol=1e-5)
    assert not torch.allclose(rec, x, atol=0.05)  # a real pass through the decoder, not the input


def test_it_draws_held_out_images_from_the_test_split(data_root):
    test = cc.load_dataset("mnist", train=False, root=data_root).images.flatten(1)  # type: ignore[attr-defined]
    drawn = cc.training_images("mnist", 10, seed=3, root=data_root, train=False).flatten(1)
    assert all(bool((test == row).all(dim=1).any()) for row in drawn)
    assert not torch.equal(drawn, cc.training_images("mnist", 10, seed=3, root=data_root).flatten(1))


def test_it_reconstructs_a_convolutional_model_at_its_size():
    torch.manual_seed(0)
    model = cc.ConvVAE(channels=3, image_size=32, latent_dim=8, widths=(4, 8, 8, 8))
    x = torch.rand(5, 3, 32, 32)
    out = cc.reconstruct(model, x, batch_size=2, device="cpu")
    assert out.shape == x.shape and torch.allclose(out, cc.reconstruct(model, x, device="cpu"), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_it_gives_the_same_images_on_cuda(tiny, data_root):
    x = cc.training_images("mnist", 64, seed=2, root=data_root, train=False)
    on_cpu = cc.reconstruct(tiny.model, x, device="cpu")
    on_gpu = cc.reconstruct(tiny.model, x, device="cuda")
    tiny.model.to("cpu")
    assert on_gpu.device.type == "cpu"  # handed back on the CPU, ready to be written
    assert torch.allclose(on_cpu, on_gpu, atol=1e-4)
