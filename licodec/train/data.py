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

from ..codec.image import IMAGE_SUFFIXES, load_rgb
from ..files import atomic_write

__all__ = ["list_images", "ImageCache", "split_holdout", "CropSampler", "DeviceCrops"]



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
        from PIL import Image
        from tqdm import tqdm

        folder.mkdir(parents=True, exist_ok=True)
        offsets, shapes, names = [], [], []

        def write(fh) -> None:
            total = 0
            for f in tqdm(files, desc="decoding images into cache", disable=not progress, unit="img"):
                try:
                    arr = load_rgb(f)
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # what Pillow raises for a bad file
                    print(f"licodec train: skipping unreadable image {f}: {exc}")
                    continue
                fh.write(np.ascontiguousarray(arr).tobytes())
                offsets.append(total)
                shapes.append(arr.shape[:2])
                names.append(str(f))
                total += arr.size

        atomic_write(folder / "pixels.u8", write=write)
        total = offsets[-1] + int(np.prod(shapes[-1])) * 3 if offsets else 0
        index = {"files": names, "offsets": offsets, "shapes": [list(s) for s in shapes], "total": total}
        atomic_write(folder / "index.json", json.dumps(index))

    def __len__(self) -> int:
        return int(len(self.keep))

    def shape(self, i: int) -> tuple[int, int]:
        """(H, W) of kept image ``i``."""
        h, w = self.shapes[int(self.keep[i])]
        return int(h), int(w)

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

    def draw(self, n: int) -> np.ndarray:
        """The random choices of ``n`` crops, (n, 5) int64: image (index into the cache's
        kept images), top, left, horizontal flip, vertical flip. ``batch`` cuts them on the
        host, :class:`DeviceCrops` on an accelerator; both consume the same random stream."""
        c = self.crop
        out = np.empty((n, 5), dtype=np.int64)
        out[:, 0] = self.rng.integers(0, len(self.cache), size=n)
        for k in range(n):
            h, w = self.cache.shape(int(out[k, 0]))
            out[k, 1] = self.rng.integers(0, h - c + 1)
            out[k, 2] = self.rng.integers(0, w - c + 1)
            out[k, 3:5] = self.rng.integers(0, 2, size=2)
        return out

    def batch(self, n: int) -> np.ndarray:
        c = self.crop
        out = np.empty((n, 3, c, c), dtype=np.uint8)
        for k, (i, y0, x0, fh, fv) in enumerate(self.draw(n)):
            patch = self.cache.image(int(i))[y0 : y0 + c, x0 : x0 + c]
            if fh:
                patch = patch[:, ::-1]
            if fv:
                patch = patch[::-1]
            out[k] = patch.transpose(2, 0, 1)
        return out

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class DeviceCrops:
    """The cache's pixels copied once to a device (a GPU), and crops cut there.

    On a GPU the host-side crops (numpy slicing, flips, a host-to-device copy a step) sit on
    the critical path of a step bound by Python and kernel launches. Here the whole cache
    lives in device memory (1.6 GB for the full training set) and a batch is one gather:
    ``crops(draws)`` -> (n, 3, crop, crop) uint8 on the device, equal to
    ``CropSampler.batch`` for the same draws (tests/train/test_data.py).
    """

    def __init__(self, cache: ImageCache, crop: int, device, chunk: int = 1 << 28) -> None:
        import torch

        self.crop = int(crop)
        self.device = torch.device(device)
        total = len(cache.pixels)
        self.flat = torch.empty(total, dtype=torch.uint8, device=self.device)
        for o in range(0, total, chunk):  # in pieces: no second host copy of the whole cache
            self.flat[o : o + chunk] = torch.from_numpy(np.array(cache.pixels[o : o + chunk]))
        keep = cache.keep
        self.offsets = torch.as_tensor(cache.offsets[keep], device=self.device)
        self.widths = torch.as_tensor(cache.shapes[keep, 1], device=self.device)
        self.ramp = torch.arange(self.crop, device=self.device)
        self.channel = torch.arange(3, device=self.device).view(1, 3, 1, 1)

    def crops(self, draws: np.ndarray):
        import torch

        d = torch.from_numpy(np.ascontiguousarray(draws)).to(self.device, non_blocking=True)
        i, y0, x0, fh, fv = d.unbind(1)
        r, last = self.ramp, self.crop - 1
        rows = torch.where(fv[:, None] == 1, last - r, r) + y0[:, None]  # (n, c)
        cols = torch.where(fh[:, None] == 1, last - r, r) + x0[:, None]
        w = self.widths[i]
        pix = self.offsets[i][:, None, None] + (rows[:, :, None] * w[:, None, None] + cols[:, None, :]) * 3  # (n, c, c)
        return self.flat[pix[:, None] + self.channel]
