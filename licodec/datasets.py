"""Evaluation data sets.

``kodak(root)`` gives the 24 images of the Kodak Lossless True Color Image Suite (kodim01..24,
768x512 or 512x768, 8-bit RGB), from a folder, downloading the missing ones from their public
home (Rich Franzen's r0k.us/graphics/kodak, where Kodak released them for unrestricted usage)
when the network allows. Downloads are checked against the decoded pixels' SHA-256 below, so
any byte-exact or re-encoded copy of the set verifies.

``image_folder(root)`` lists the images of any folder, for evaluating on other data.
"""
from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .codec.image import IMAGE_SUFFIXES, load_rgb
from .files import atomic_write

__all__ = ["kodak", "kodak_paths", "image_folder", "load_rgb", "pixel_sha256", "KODAK_NAMES", "KODAK_URL", "KODAK_PIXEL_SHA256"]

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}"
# tried in order; the pixel checksum below guards either way
KODAK_MIRRORS = (KODAK_URL, "http://r0k.us/graphics/kodak/kodak/{name}")
KODAK_NAMES = tuple(f"kodim{i:02d}.png" for i in range(1, 25))

# sha256 of each image's decoded pixels (Pillow Image.tobytes(): row-major HWC uint8 RGB)
KODAK_PIXEL_SHA256 = {
    "kodim01.png": "a00210743353594464ac67e680a41710f484444ca5f9dfddeb570de25c428273",
    "kodim02.png": "ae5a495df4ec40e0941265440ccf98973915b4190ab803e37a23ca93dd43a07e",
    "kodim03.png": "234e61f585503f2a44400f5561131e8a512ef2c15328cd83d5cdbf10e2616cf2",
    "kodim04.png": "e88e788fca00e6c723bb66ff45edb8cb56091ee284dcb73e3909834f2c96eeb6",
    "kodim05.png": "ed3d1ee770909d3b27903b52ce19ee59a9bf24621a7bf1fb57b90677da880cb6",
    "kodim06.png": "7f45158999fa297d1cfbd292b3e2f3f5b27770701c3473155c211c3f512cc97f",
    "kodim07.png": "4e3664bf6fe865b49f15f7b554efa7dbecaf73ae0e8699f2e307bf07849f1264",
    "kodim08.png": "889c3740e4ed54ca53d11ae735a44d15fa24fe312b3bd1609a80618a4092c208",
    "kodim09.png": "f8453140e63a42301a6dbebb849a3cc40d34e4e59580eb1f372f7f5460df0dbe",
    "kodim10.png": "fabe11b5c4f028394e093a5b5907e5fabc8072da0d5334fb3a38547a7e1be842",
    "kodim11.png": "ab4dd9bf8431e717d33892b3ba03c63bfea3c7fa72c2610010de7df3c194c075",
    "kodim12.png": "f412db2168e599949aac26bd3264f111b23a684f30a21cfd320e9e95bc69bbae",
    "kodim13.png": "875703d56fb9396f478b5d7d3b18e2b77c17147a685c6dc2567e1c574aaf01e3",
    "kodim14.png": "2bd5029ee75ac1697542e5b05624e8afe186e3250abd7513d6a806b52084c2f0",
    "kodim15.png": "b5353e7511277009922ecbdebfc6418fec53aa1b2a08d44fc957a7540825697b",
    "kodim16.png": "ed21745fd32fce95cc2c6af7fc52b1b15e590c7a14ab18ab34bd65ecaf955ac7",
    "kodim17.png": "566bc866664e9b06dc86e2654051b454844efe17322dbf7e24156d8243f1943e",
    "kodim18.png": "3475af71066f3ca8206eb12cfc989ebe9c6e44820a96604e88ae018606e1f7bd",
    "kodim19.png": "7956408ef24222d37ac53f579bd24d5b2c3557b16c657e8b71c1b6ae9f18de1b",
    "kodim20.png": "666ce8f2db5566a123bb081e70618f6f4c4253df960f3b41bb9dcc3dd134f3cf",
    "kodim21.png": "2d6902daf7c4486b7c8c04d834091841a2b38c8f0c81cd7a963a6510b34a2a6a",
    "kodim22.png": "f430842120c108b67725ada96b8b7b2a914f6a0915eacd5595064c6c1a5d70a0",
    "kodim23.png": "81992a83592267e69125666f3e3e04c1819529b4c4c1e55fde0a6a741bac4219",
    "kodim24.png": "e3e3ccc3e795b82a3da66934409dfe98ce0f5aadc6d7767543c506453599bb98",
}

def pixel_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def image_folder(root: str | os.PathLike) -> list[Path]:
    """The image files directly in ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such dataset folder: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    return files


def _fetch(name: str, timeout: float) -> tuple[str, bytes]:
    last: Exception | None = None
    for pattern in KODAK_MIRRORS:
        url = pattern.format(name=name)
        req = urllib.request.Request(url, headers={"User-Agent": "licodec"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - fixed URLs
                return url, r.read()
        except (urllib.error.URLError, OSError) as e:
            last = e
    raise last if last else OSError("no mirror")


def _download(name: str, dest: Path, timeout: float) -> None:
    from PIL import Image

    url, data = _fetch(name, timeout)
    try:
        got = pixel_sha256(load_rgb(io.BytesIO(data)))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:  # what Pillow raises for a bad file
        raise ValueError(f"{url} did not give a readable image: {e}") from None
    if got != KODAK_PIXEL_SHA256[name]:
        raise ValueError(f"{url}: pixels do not match the Kodak checksum")
    atomic_write(dest, data)


def kodak_paths(root: str | os.PathLike, download: bool = True, verify: bool = False, timeout: float = 30.0) -> list[Path]:
    """Paths of the 24 Kodak PNGs in ``root``, downloading missing ones if ``download``.

    ``verify`` checks every local file's pixels against the known checksums (downloads are always
    checked). Raises FileNotFoundError naming what is missing when the set is incomplete.
    """
    root = Path(root)
    missing = [n for n in KODAK_NAMES if not (root / n).is_file()]
    if missing and download:
        root.mkdir(parents=True, exist_ok=True)
        errors = []
        for n in missing:
            try:
                _download(n, root / n, timeout)
            except (urllib.error.URLError, OSError, ValueError) as e:
                errors.append(f"{n}: {e}")
        missing = [n for n in KODAK_NAMES if not (root / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} Kodak images missing in {root} and could not be downloaded from "
                f"{KODAK_URL.format(name='')} ({errors[0] if errors else 'unknown error'})")
    elif missing:
        raise FileNotFoundError(f"{len(missing)} Kodak images missing in {root}: {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else ""))
    paths = [root / n for n in KODAK_NAMES]
    if verify:
        for p in paths:
            if pixel_sha256(load_rgb(p)) != KODAK_PIXEL_SHA256[p.name]:
                raise ValueError(f"{p}: pixels do not match the Kodak checksum")
    return paths


def kodak(root: str | os.PathLike, download: bool = True, verify: bool = False) -> list[tuple[str, np.ndarray]]:
    """The 24 Kodak images as (file name, uint8 RGB array (H, W, 3)), in order kodim01..kodim24."""
    return [(p.name, load_rgb(p)) for p in kodak_paths(root, download=download, verify=verify)]


