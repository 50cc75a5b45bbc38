"""Training data: a folder of images decoded once into a memory-mapped cache, random crops.

JPEG decoding costs more than a training step's data needs on 2 cores, so every image
is decoded once into ``<cache>/pixels.u8`` (all images' RGB bytes back to back) with an
index ``index.json``; the cache is keyed by the list of files, their sizes and mtimes.
Crops are then numpy slices of a memory map: shared between processes (DDP ranks),
no worker processes needed, negligible time per batch (see benchmarks/bench_train.py).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "list_images", "ImageCache", "split_holdout", "CropSampler"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm", ".tif", ".tiff")


def list_images(root: str | os.PathLike) -> list[Path]:
    """Every image file below ``root`` (recursive), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def split_holdout(files: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Deterministic hold-out: the ``count`` files whose name hashes lowest. Returns (train, holdout)."""
    key = lambda p: hashlib.sha1(p.name.encode()).hexdigest()  # noqa: E731
    held = set(sorted(files, key=key)[:count])
    return [p for p in files if p not in held], [p for p in files if p in held]


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of any image Pillow reads."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class ImageCache:
    """All images of a list, decoded once, as one memory-mapped uint8 array.

    ``image(i)`` -> (H, W, 3) uint8 view; ``shapes`` (n, 2) of (H, W).
    """

    def __init__(self, files: list[Path], cache_dir: str | os.PathLike, min_side: int = 0, progress: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        files = sorted(Path(f) for f in files)
        sig = hashlib.sha1()
        for f in files:
            st = f.stat()
            sig.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        key = sig.hexdigest()[:16]
        folder = self.cache_dir / key
        index_path = folder / "index.json"
        if not index_path.exists():
            self._build(files, folder, progress)
        index = json.loads(index_path.read_text())
        self.files = [Path(f) for f in index["files"]]
        self.offsets = np.asarray(index["offsets"], dtype=np.int64)
        self.shapes = np.asarray(index["shapes"], dtype=np.int64).reshape(-1, 2)
        self.pixels = np.memmap(folder / "pixels.u8", dtype=np.uint8, mode="r") if index["total"] else np.zeros(0, np.uint8)
        keep = np.where(self.shapes.min(axis=1) >= min_side)[0] if len(self.shapes) else np.zeros(0, np.int64)
        self.keep = keep

    @staticmethod
    def _build(files: list[Path], folder: Path, progress: bool) -> None:
        from tqdm import tqdm

        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"pixels.u8.tmp{os.getpid()}"
        offsets, shapes, total, names = [], [], 0, []
        with open(tmp, "wb") as fh:
            for f in tqdm(files, desc="decoding images into cache", disable=not progress, unit="img"):
                try:
                    arr = load_rgb(f)
                except Exception as exc:  # unreadable file: skip it, say so
                    print(f"licodec train: skipping unreadable image {f}: {exc}")
                    continue
                fh.write(np.ascontiguousarray(arr).tobytes())
                offsets.append(total)
                shapes.append(arr.shape[:2])
                names.append(str(f))
                total += arr.size
        os.replace(tmp, folder / "pixels.u8")
        index = {"files": names, "offsets": offsets, "shapes": [list(s) for s in shapes], "total": total}
        tmp_index = folder / f"index.json.tmp{os.getpid()}"
        tmp_index.write_text(json.dumps(index))
        os.replace(tmp_index, folder / "index.json")

    def __len__(self) -> int:
        return int(len(self.keep))

    def image(self, i: int) -> np.ndarray:
        j = int(self.keep[i])
        h, w = (int(v) for v in self.shapes[j])
        o = int(self.offsets[j])
        return self.pixels[o : o + h * w * 3].reshape(h, w, 3)


class CropSampler:
    """Random crops with random horizontal/vertical flips, driven by a numpy Generator.

    The generator's state is the sampler's whole state, so a checkpoint can save and
    restore the exact data order. ``batch(n)`` -> (n, 3, crop, crop) uint8 array.
    """

    def __init__(self, cache: ImageCache, crop: int, seed: int = 0) -> None:
        if len(cache) == 0:
            raise ValueError(f"no training image has both sides >= {crop} px")
        self.cache = cache
        self.crop = int(crop)
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def batch(self, n: int) -> np.ndarray:
        c = self.crop
        out = np.empty((n, 3, c, c), dtype=np.uint8)
        idx = self.rng.integers(0, len(self.cache), size=n)
        for k, i in enumerate(idx):
            img = self.cache.image(int(i))
            h, w = img.shape[:2]
            y0 = int(self.rng.integers(0, h - c + 1))
            x0 = int(self.rng.integers(0, w - c + 1))
            patch = img[y0 : y0 + c, x0 : x0 + c]
            flip = self.rng.integers(0, 2, size=2)
            if flip[0]:
                patch = patch[:, ::-1]
            if flip[1]:
                patch = patch[::-1]
            out[k] = patch.transpose(2, 0, 1)
        return out

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
