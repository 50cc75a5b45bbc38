"""Files written whole or not at all (the bottom of the package: no licodec imports).

Every file licodec writes (coded images, decoded images, model files, checkpoints, caches,
evaluation results, logs rewritten in place) goes through :func:`atomic_write`: a temporary
file in the same folder, flushed and fsynced, then renamed over the target. A crash, a full
disk or Ctrl-C leaves the old file (or none), never a partial one, and no temporary file.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import FormatError, InputError

__all__ = ["atomic_write", "read_bytes", "read_metadata", "STDIO"]

STDIO = "-"
"""The file name that means standard input (read) or standard output (write), as in cwebp."""


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file (``-``: all of standard input), or an InputError that names it."""
    if str(path) == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None


def atomic_write(path: str | os.PathLike, data: bytes | str | None = None, *, write: Callable[[BinaryIO], None] | None = None) -> None:
    """Write ``data`` (bytes, or text as UTF-8), or whatever ``write(fh)`` writes, to ``path`` atomically."""
    if (data is None) == (write is None):
        raise TypeError("atomic_write takes data or write, not both")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            if write is not None:
                write(fh)
            else:
                fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_metadata(path: str | os.PathLike, what: str = "licodec file") -> dict[str, str]:
    """The metadata of a safetensors file (model files, checkpoints), read without its
    tensors; a FormatError that names the file for anything that is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except SafetensorError as exc:
        raise FormatError(f"{path}: not a {what} ({exc})") from None
