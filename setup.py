"""Build the optional C kernels: the wavefront loop's (licodec/codec/_steps.c) and the
Winograd transforms' (licodec/layers/_winograd.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler
the install still succeeds and licodec runs the same arithmetic in PyTorch.
"""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("licodec.codec._steps", ["licodec/codec/_steps.c"], extra_compile_args=["-O3"], optional=True),
    Extension("licodec.layers._winograd", ["licodec/layers/_winograd.c"], extra_compile_args=["-O3"], optional=True),
])
