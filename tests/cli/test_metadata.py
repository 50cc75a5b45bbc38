"""Photos come back right: the EXIF (orientation), ICC profile and XMP of an input are kept
in the .lic file and written back by decompress; --strip / --metadata choose (issue: real
photos, real pipelines, bugs 1 and 2)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms

import licodec
from licodec.cli import main
from licodec.codec.container import Header, pack, unpack
from licodec.errors import FormatError


def _camera_jpeg(path):
    """A camera-like JPEG: stored 48x64, EXIF orientation 6 (displays 64x48), an ICC profile."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(np.clip(np.cumsum(rng.normal(0, 6, (64, 48, 3)), axis=1) + 128, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "TestCam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img.save(path, exif=exif.tobytes(), icc_profile=icc, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", quality=95)
    return path, icc


def test_orientation_and_profile_survive_compress_and_decompress(tmp_path):
    src, icc = _camera_jpeg(tmp_path / "cam.jpg")
    assert main(["compress", str(src), "-o", str(tmp_path / "cam.lic")]) == 0
    assert set(unpack((tmp_path / "cam.lic").read_bytes(), lambda name: 2).metadata) == {"icc", "exif", "xmp"}
    assert main(["decompress", str(tmp_path / "cam.lic"), "-o", str(tmp_path / "cam.png")]) == 0
    with Image.open(tmp_path / "cam.png") as out:
        out.load()  # PNG text chunks after the pixels are read with them
        assert out.size == (48, 64)  # pixels as stored; the orientation stays a tag, as cjxl and avifenc keep it
        assert out.getexif()[0x0112] == 6 and out.getexif()[0x010F] == "TestCam"
        assert out.info["icc_profile"] == icc
        assert b"xmpmeta" in (out.info.get("xmp") or out.info.get("XML:com.adobe.xmp", "").encode())


@pytest.mark.parametrize("choice,kept", [("none", set()), ("icc", {"icc"}), ("exif", {"exif"})])
def test_metadata_choices(tmp_path, choice, kept):
    src, _ = _camera_jpeg(tmp_path / "cam.jpg")
    args = ["--strip"] if choice == "none" else ["--metadata", choice]
    assert main(["compress", str(src), "-o", str(tmp_path / "cam.lic"), *args]) == 0
    assert set(unpack((tmp_path / "cam.lic").read_bytes(), lambda name: 2).metadata) == kept


def test_the_api_carries_metadata_through_pil_info(tmp_path):
    src, icc = _camera_jpeg(tmp_path / "cam.jpg")
    with Image.open(src) as im:
        data = licodec.compress(im)
    out = licodec.decompress(data)
    assert out.info["icc_profile"] == icc
    exif = Image.Exif()
    exif.load(out.info["exif"][6:])
    assert exif[0x0112] == 6
    with Image.open(src) as im:
        assert unpack(licodec.compress(im, metadata="none"), lambda name: 2).metadata == {}


def test_container_metadata_round_trip_and_corruption():
    h = Header("m", b"\1" * 8, 10, 20, streams=[b"\1\2\3\4", b"\5\6\7\0"], metadata={"exif": b"Exif\0\0abc", "icc": b"\1" * 300})
    data = pack(h)
    back = unpack(data, lambda name: 2)
    assert back.metadata == h.metadata and back.streams == h.streams
    assert unpack(pack(Header("m", b"\1" * 8, 10, 20, streams=[b"\1\2\3\4"])), None).metadata == {}  # no block: as before
    import struct
    import zlib

    body = bytearray(data[:-4])
    i = body.index(b"Exif") - 2  # the EXIF block's length byte
    body[i] = 0x7F  # longer than the file
    with pytest.raises(FormatError, match="metadata"):
        unpack(bytes(body) + struct.pack(">I", zlib.crc32(body)), lambda name: 2)
