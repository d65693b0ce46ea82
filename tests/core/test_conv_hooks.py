from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import creative_core as cc


def _folder(tmp_path, n=12, size=20):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = tmp_path / ("cats" if i % 2 else "dogs")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size + 4, 3), dtype=np.uint8)).save(sub / f"{i}.png")
    return f"folder:{tmp_path}"


def test_an_image_folder_loads_resized_and_labelled(tmp_path):
    name = _folder(tmp_path)
    ds = cc.load_dataset(name, image_size=16, channels=1)
    x, y = ds[0]
    assert x.shape == (1, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert {ds[i][1] for i in range(len(ds))} == {0, 1}
    assert len(cc.load_dataset(name, train=False)) == 2  # every 10th file is test


def test_schemes_apply_to_the_conv_vae_through_hooks(tmp_path):
    torch.manual_seed(0)
    model = cc.ConvVAE(channels=3, image_size=16, latent_dim=8).eval()
    assert model.hidden_layers[2] == "decoder.act3"
    p = cc.profile(model, _folder(tmp_path), progress=False)
    assert p.layer == "decoder.act3" and p.n_units == 64 and p.corr.shape == (64, 64)
    regular = cc.generate(model, p, "regular", 6, seed=1, progress=False)
    for name in ("noisy", "random_flip", "low_active"):
        k = {} if name == "noisy" else {"k": 2}
        s = cc.generate(model, p, cc.make_scheme(name, **k), 6, seed=1, progress=False)
        assert s.images.shape == (6, 3, 16, 16)
        assert not torch.equal(s.images, regular.images), name
        assert torch.equal(s.z, regular.z)
    # a switched-on channel is set, over its whole map, to the channel's profiled maximum
    seen = {}
    h = model.decoder.up3.register_forward_pre_hook(lambda m, i: seen.__setitem__("x", i[0]))
    s = cc.generate(model, p, cc.make_scheme("random_flip", k=2, value="unit_max", candidates="off_for_sample"), 3,
                    seed=1, progress=False)
    h.remove()
    u = int(s.units[0, 0])
    expected = p.max[u] if p.max[u] > 0 else np.median(p.max[p.max > 0])
    torch.testing.assert_close(seen["x"][0, u], torch.full_like(seen["x"][0, u], float(expected)))


def test_a_conv_model_round_trips_through_a_checkpoint(tmp_path):
    model = cc.ConvVAE(channels=1, image_size=32, latent_dim=4).eval()
    cc.save_checkpoint(tmp_path / "c.pt", model, {"dataset": "folder:x"})
    back = cc.load_checkpoint(tmp_path / "c.pt", device="cpu").model
    z = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(back.decode(z), model.decode(z))


def test_the_whole_table_runs_on_a_folder_of_colour_images(tmp_path, capsys):
    """Figure 3's data (WikiArt, CelebA) cannot be fetched without the internet; the path it takes (a folder of
    colour images, a convolutional VAE, the five schemes, both D_r, the grids) runs on generated colour images."""
    import csv

    from creative_core.reproduce import reproduce

    rng = np.random.default_rng(1)
    images = tmp_path / "images"
    for i in range(40):
        sub = images / ("warm" if i % 2 else "cool")
        sub.mkdir(parents=True, exist_ok=True)
        base = np.array([200, 80, 40] if i % 2 else [40, 90, 200], dtype=float)
        pixels = np.clip(base + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(sub / f"{i}.png")
    out = tmp_path / "r"
    reproduce(f"folder:{images}", epochs=1, samples=12, optimised_samples=4, steps=3, batch_size=8, out=out,
              progress=False)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["scheme"] for r in rows] == ["low_active", "noisy", "random_flip", "regular", "interpolation"]
    assert all(float(r["dr_amortised_mean"]) > 0 and int(r["n_optimised"]) == 4 for r in rows)
    ck = cc.load_checkpoint(out / "model.pt", device="cpu")
    assert isinstance(ck.model, cc.ConvVAE) and ck.model.input_shape[0] == 3
    grid = Image.open(out / "grid_low_active.png")
    assert grid.mode == "RGB"
    # colour survives: the channels of the grid differ (a grey grid would have equal ones)
    arr = np.asarray(grid, dtype=float)
    assert np.abs(arr[..., 0] - arr[..., 2]).mean() > 1.0
