"""Close to the machine: the optional compiled kernels, large buffers in huge pages, and
the allocator's policy for a process that codes many images.

Two extensions (plain C, built by ``pip install``, called with ctypes): the wavefront
loop's step kernels (``codec/_steps.c``) and the Winograd transforms
(``layers/_winograd.c``). Each is optional: without it the same arithmetic runs in
PyTorch. ctypes releases the GIL during a call, so threads may run kernels side by side.
"""
from __future__ import annotations

import ctypes
import importlib.machinery
import sys
from pathlib import Path

__all__ = ["load_extension", "ptr", "empty_huge", "keep_freed_memory"]


def load_extension(folder: Path, name: str, functions: tuple[str, ...]) -> ctypes.CDLL | None:
    """The compiled extension ``name`` in ``folder`` with ``functions`` (int64 results, ignored
    for a void function; arguments unchecked), or None where it was not built or cannot load."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.exists():
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            for f in functions:
                getattr(lib, f).restype = ctypes.c_int64
                getattr(lib, f).argtypes = None
            return lib
    return None


def ptr(t) -> ctypes.c_void_p:
    """The address of a tensor's or array's data (None: a null pointer)."""
    if t is None:
        return ctypes.c_void_p(0)
    return ctypes.c_void_p(t.ctypes.data if hasattr(t, "ctypes") else t.data_ptr())


_HUGE = 1 << 21
#: Larger buffers keep 4 KB pages: on the VM measured, a 300 MB layer output in huge pages
#: made a 1536×1024 g_s slower (3.66 s against 3.33 s, one thread), a 75 MB one faster.
HUGE_MAX = 96 << 20
_MADV_HUGEPAGE = 14
_madvise = None


def empty_huge(*shape: int, channels_last: bool = False, dtype=None):
    """``torch.empty(shape, dtype=dtype)`` (default float32) whose 2 MB-aligned interior Linux backs with huge pages
    where transparent huge pages are on request (``madvise``), for buffers of 4 MB to
    ``HUGE_MAX``: writing fresh memory faults once per 4 KB page, ~0.5 ms per MB on the
    machine measured (a 75 MB layer output: 51 ms to fill, 14 ms in huge pages).
    Elsewhere a plain ``torch.empty``."""
    import torch

    global _madvise
    dtype = dtype or torch.float32
    t = torch.empty(*shape, dtype=dtype, memory_format=torch.channels_last) if channels_last else torch.empty(*shape, dtype=dtype)
    nbytes = t.numel() * t.element_size()
    if not 2 * _HUGE <= nbytes <= HUGE_MAX or not sys.platform.startswith("linux"):
        return t
    if _madvise is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _madvise = libc.madvise
        except (OSError, AttributeError):
            _madvise = False
    if _madvise:
        lo = (t.data_ptr() + _HUGE - 1) & ~(_HUGE - 1)
        hi = (t.data_ptr() + nbytes) & ~(_HUGE - 1)
        if hi > lo:
            _madvise(lo, hi - lo, _MADV_HUGEPAGE)  # advice only: a refusal changes nothing
    return t


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEEP = 2**31 - 1


def keep_freed_memory() -> bool:
    """For a process that codes many images (the CLI's batches): glibc's malloc then takes
    large buffers from its heap instead of fresh mmaps, and keeps freed memory for reuse
    instead of returning it, so the transforms' ~20-75 MB temporaries fault their pages in
    once, not at every image (a 768x512 decode 0.87x, encode 0.91x from the second image on;
    docs/speed.md). The process keeps its peak memory until it ends: a library never calls
    this for its caller (the same from outside: ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=
    2147483647:glibc.malloc.trim_threshold=2147483647``). False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP))
