"""licodec's errors: one root, raised where the problem is detected.

    LicodecError                the input, a file or a model is the problem, not licodec
    ├── InputError              an image or file licodec cannot code (ValueError)
    ├── FormatError             a .lic or model file that is corrupt, truncated or foreign (ValueError)
    ├── CodecError              a file and a model that do not fit, or an unusable setting (ValueError)
    └── ModelNotFound           no such model is installed (LookupError)

Anything else that escapes licodec is a bug and surfaces as one. The command lines report
a LicodecError in one line (``licodec: error: ...``, exit status 1).
"""
from __future__ import annotations

__all__ = ["LicodecError", "InputError", "FormatError", "CodecError", "ModelNotFound"]


class LicodecError(Exception):
    """Root of the errors licodec raises on purpose (the message says what and why)."""


class InputError(LicodecError, ValueError):
    """An input image that licodec cannot code (the message says why)."""


class FormatError(LicodecError, ValueError):
    """The data is not a valid .lic file, or a file is not a usable model file (the message says why)."""


class CodecError(LicodecError, ValueError):
    """A model/file mismatch or an unusable setting."""


class ModelNotFound(LicodecError, LookupError):
    """No such model is installed (the message says where we looked)."""
