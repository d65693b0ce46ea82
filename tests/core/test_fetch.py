from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import creative_core as cc
from creative_core.fetch import FILES, raw_dir, sha256


def _copy_mnist(src_root: Path, dst_root: Path) -> Path:
    dst = raw_dir(dst_root, "mnist")
    shutil.copytree(raw_dir(src_root, "mnist"), dst)
    return dst


def test_it_verifies_the_real_files(data_root):
    cc.verify_data(data_root, ["mnist"])
    for name, digest in FILES["mnist"][1].items():
        assert sha256(raw_dir(data_root, "mnist") / name) == digest


def test_it_rejects_a_corrupted_file(data_root, tmp_path):
    raw = _copy_mnist(data_root, tmp_path)
    target = raw / "t10k-labels-idx1-ubyte"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(cc.DataError, match="checksum mismatch.*t10k-labels"):
        cc.verify_data(tmp_path, ["mnist"])


def test_it_repairs_a_corrupted_file_when_fetching(data_root, tmp_path):
    raw = _copy_mnist(data_root, tmp_path)
    target = raw / "train-labels-idx1-ubyte"
    target.write_bytes(b"not mnist")
    cc.fetch_data(tmp_path, datasets=["mnist"], progress=False)
    cc.verify_data(tmp_path, ["mnist"])


def test_it_is_idempotent(data_root):
    files = sorted(raw_dir(data_root, "mnist").iterdir())
    before = [f.stat().st_mtime_ns for f in files]
    cc.fetch_data(data_root, datasets=["mnist"], progress=False)
    assert [f.stat().st_mtime_ns for f in files] == before


def test_it_says_what_to_run_when_data_is_missing(tmp_path):
    with pytest.raises(cc.DataError, match="fetch-data"):
        cc.load_dataset("mnist", root=tmp_path)


def test_it_rejects_an_unknown_dataset(data_root):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        cc.load_dataset("cifar", root=data_root)


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CREATIVE_DATA_ROOT", str(tmp_path))
    assert cc.default_data_root() == tmp_path


def test_the_combined_set_has_twenty_classes(data_root):
    if not (raw_dir(data_root, "fmnist") / "train-images-idx3-ubyte").exists():
        pytest.skip("Fashion-MNIST not fetched (needs the Debian package dataset-fashion-mnist)")
    ds = cc.load_dataset("mnist+fmnist", root=data_root, limit=3000)
    labels = {int(ds[i][1]) for i in range(len(ds))}
    assert labels == set(range(20))
    x, _ = ds[0]
    assert x.shape == (1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
