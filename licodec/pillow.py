"""Pillow support for .lic files: ``import licodec.pillow`` registers the format (the
convention of pillow-heif and pillow-avif-plugin).

    from PIL import Image
    import licodec.pillow

    im = Image.open("photo.lic")          # header only; pixels decode on first use
    im.save("photo.lic", quality=4)       # encodes (quality, model= as licodec.compress)
    im.info["icc_profile"], im.info["exif"]   # the file's metadata, as for PNG and JPEG

Opening reads the header alone (size, colour; no model, no torch); ``load()`` decodes with
the model the file names (or ``Image.open`` of a file coded with a model that is not
installed fails at ``load()`` with licodec's CodecError). Saving keeps the image's ICC
profile, EXIF and XMP unless ``metadata="none"`` (or "icc", "exif") is passed.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from .codec import container

__all__ = ["LicImageFile", "FORMAT", "MIME"]

FORMAT = "LIC"
MIME = "image/x-licodec"


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC


class LicImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "licodec learned image codec"

    def _open(self) -> None:
        self._data = self.fp.read()
        header = container.unpack(self._data, None)  # checks the magic, CRC and fields; the streams need the model
        self._size = (header.width, header.height)
        self._mode = "L" if header.colour == "L" else "RGB"
        for name, key in (("icc", "icc_profile"), ("exif", "exif"), ("xmp", "xmp")):
            if name in header.metadata:
                self.info[key] = header.metadata[name]
        self.info["licodec"] = {"model": header.model, "quality": header.quality}
        self.tile = []

    def load(self):
        if self._data is not None:
            from .codec import api

            decoded = api.decompress(self._data)
            self.im = decoded.im
            self._data = None
        return super().load()


def _save(im: Image.Image, fp, filename) -> None:
    from .codec import api

    options = im.encoderinfo
    source = im.copy()
    source.info = {**im.info, **{k: options[k] for k in ("icc_profile", "exif", "xmp") if k in options}}
    fp.write(api.compress(source, quality=options.get("quality"), model=options.get("model"),
                          drop_alpha=bool(options.get("drop_alpha", False)), metadata=options.get("metadata", "all")))


Image.register_open(FORMAT, LicImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".lic")
Image.register_mime(FORMAT, MIME)
