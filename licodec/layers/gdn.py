"""Generalized divisive normalization (Ballé, Laparra & Simoncelli, ICLR 2016/2017).

GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)

beta and gamma are kept non-negative through the reparametrization of
Ballé, "Efficient nonlinear transforms for lossy image compression" (PCS 2018):
the stored parameter p maps to max(p, bound)^2 - pedestal, with a straight-through
lower bound so that gradients still flow when the bound is active.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..native import empty_huge
from ..ops import lower_bound

__all__ = ["NonNegativeParametrizer", "GDN", "IGDN"]


class NonNegativeParametrizer(nn.Module):
    """Stores v >= minimum as p = sqrt(v + pedestal); returns max(p, sqrt(min + pedestal))^2 - pedestal."""

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.pedestal = reparam_offset**2
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, x: Tensor) -> Tensor:
        return torch.sqrt(torch.clamp(x + self.pedestal, min=self.pedestal))

    def forward(self, p: Tensor) -> Tensor:
        return lower_bound(p, self.bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """GDN over channels of an (B, C, H, W) tensor; ``inverse=True`` gives IGDN.

    beta >= 1e-6 and gamma >= 0 via :class:`NonNegativeParametrizer`; gamma starts at
    0.1·I and beta at 1, the initialisation of Ballé et al.
    """

    BAND_PIXELS = 2048  # pixels per band (192 channels: 1.5 MB of float32 per temporary)

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegativeParametrizer(minimum=beta_min)
        self.gamma_reparam = NonNegativeParametrizer()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x: Tensor, out_dtype: torch.dtype | None = None) -> Tensor:
        """x (B, C, H, W) -> the same shape. ``out_dtype``: the result's type (default: the
        arithmetic's); the values are those of ``forward(x).to(out_dtype)``, written directly
        (a bf16 layer feeding a float32 one saves the conversion's pass over the tensor)."""
        c = x.shape[1]
        if torch.is_grad_enabled() and x.dim() == 4 and x.requires_grad and not (self.beta.requires_grad or self.gamma.requires_grad):
            # frozen layer, gradient for x only (the encoder's latent search): in bands
            with torch.no_grad():
                beta = self.beta_reparam(self.beta)
                gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
            return _FrozenGDN.apply(x, beta, gamma, self.inverse, self._band_rows(x), out_dtype)
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        if torch.is_grad_enabled() or x.dim() != 4:
            norm = F.conv2d(x * x, gamma, beta)
            out = x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)
            return out if out_dtype is None else out.to(out_dtype)
        if x.is_contiguous(memory_format=torch.channels_last):  # a fresh output: huge pages (native.empty_huge)
            return self._bands(x, empty_huge(*x.shape, channels_last=True, dtype=out_dtype or x.dtype))
        return self._bands(x, torch.empty_like(x, dtype=out_dtype or x.dtype))  # keeps x's memory format

    def _band_rows(self, x: Tensor) -> int:
        return max(1, self.BAND_PIXELS // max(1, x.shape[0] * x.shape[3]))

    def inplace_(self, x: Tensor) -> Tensor:
        """Inference only: the same values as ``forward``, written over ``x`` (a temporary
        of the caller's): saves a full-size allocation and its memory traffic."""
        if torch.is_grad_enabled() or x.dim() != 4:
            raise RuntimeError("GDN.inplace_ is for inference on (B, C, H, W) tensors")
        return self._bands(x, x)

    def _bands(self, x: Tensor, out: Tensor) -> Tensor:
        # Inference: the same per-pixel arithmetic in bands of ``BAND_PIXELS`` pixels, so
        # that the temporaries stay in cache instead of streaming several full-size tensors
        # (4-8x faster on large images here, and the same values). ``out`` may be ``x``:
        # each band is read completely before it is overwritten. On channels-last tensors
        # (the codec's) the bands are blocks of the (pixels, C) matrix, two temporaries
        # reused for all of them: n = beta + x² gammaᵀ as one product (addmm), its root,
        # times x (largest IGDN of g_s at 768x512: 0.64x the time of 1x1 convolutions on
        # bands of rows, one thread).
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma)
        if x.is_contiguous(memory_format=torch.channels_last) and out.is_contiguous(memory_format=torch.channels_last) and x.numel():
            xm, om = (t.permute(0, 2, 3, 1).view(-1, c) for t in (x, out))  # views: the bands are written into out
            beta, gamma = beta.to(x.dtype), gamma.to(x.dtype)  # bf16 under autocast, as conv2d would
            band = min(self.BAND_PIXELS, xm.shape[0])
            sq, norm = xm.new_empty(band, c), xm.new_empty(band, c)
            for a in range(0, xm.shape[0], band):
                xs = xm[a : a + band]
                k = xs.shape[0]
                torch.mul(xs, xs, out=sq[:k])
                n = torch.addmm(beta, sq[:k], gamma.t(), out=norm[:k])
                root = n.sqrt_() if self.inverse else n.rsqrt_()
                torch.mul(root, xs, out=om[a : a + k])
            return out
        gamma = gamma.reshape(c, c, 1, 1)
        rows = self._band_rows(x)
        for a in range(0, x.shape[2], rows):
            xs = x[:, :, a : a + rows]
            norm = F.conv2d(xs * xs, gamma, beta)
            (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(xs)
            out[:, :, a : a + rows] = norm
        return out

    def extra_repr(self) -> str:
        return f"{self.beta.numel()}, inverse={self.inverse}"


class _FrozenGDN(torch.autograd.Function):
    """GDN / IGDN with fixed beta, gamma, differentiated for x only, in bands of rows.

    Autograd of the plain formula keeps x², the norm and its root as full-size tensors
    and streams each through memory several times; here forward and backward work band by
    band (the band's temporaries stay in cache) and keep x and the root of the norm. With
    n = beta + gamma x² (over channels) and g the output's gradient:

        IGDN  out = x sqrt(n)     dx = g sqrt(n) + x · gammaᵀ (g x / sqrt(n))
        GDN   out = x / sqrt(n)   dx = g / sqrt(n) − x · gammaᵀ (g x / sqrt(n)³)

    Works on the (pixels, channels) matrix of a channels-last x (a copy otherwise); the
    result is channels-last. Under autocast (bf16), the products of both passes run in
    bf16, as autocast runs the forward's.
    """

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, gamma: Tensor, inverse: bool, rows: int,  # type: ignore[override]
                out_dtype: torch.dtype | None = None) -> Tensor:
        xm = _pixels(x)  # (pixels, C), a view where x is channels-last
        gm = gamma.reshape(gamma.shape[0], -1)
        band = rows * x.shape[3]
        root = out = None  # sqrt(n) (IGDN) or 1/sqrt(n) (GDN), kept for the backward pass
        for a in range(0, xm.shape[0], band):
            xs = xm[a : a + band]
            r = torch.addmm(beta, xs * xs, gm.t())  # n = beta + x² gammaᵀ
            if root is None:
                root = torch.empty(xm.shape, dtype=r.dtype, device=x.device)
                out = torch.empty(xm.shape, dtype=out_dtype or torch.promote_types(r.dtype, xs.dtype), device=x.device)
            torch.sqrt(r, out=root[a : a + band]) if inverse else torch.rsqrt(r, out=root[a : a + band])
            torch.mul(root[a : a + band], xs, out=out[a : a + band])
        if root is None:  # no pixels
            root, out = xm.new_empty(xm.shape), xm.new_empty(xm.shape, dtype=out_dtype or xm.dtype)
        ctx.save_for_backward(xm, root, gm)
        # the incoming gradient is rounded to the type the result had before out_dtype (as the
        # backward of a .to(out_dtype) would do), band by band
        ctx.inverse, ctx.shape, ctx.band, ctx.mm = inverse, x.shape, band, root.dtype
        ctx.grad_dtype = torch.promote_types(root.dtype, xm.dtype)
        return _image(out, x.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        xm, root, gm = ctx.saved_tensors
        gr = _pixels(grad)
        dx = torch.empty(xm.shape, dtype=ctx.grad_dtype, device=xm.device)
        for a in range(0, xm.shape[0], ctx.band):
            xs, gs, rs = xm[a : a + ctx.band], gr[a : a + ctx.band].to(ctx.grad_dtype), root[a : a + ctx.band]
            t = gs * xs / rs if ctx.inverse else gs * xs * rs**3
            m = t.to(ctx.mm) @ gm.to(ctx.mm)  # gammaᵀ t per pixel, in the forward product's type
            torch.addcmul(gs * rs, xs, m, value=1 if ctx.inverse else -1, out=dx[a : a + ctx.band])
        return _image(dx, ctx.shape), None, None, None, None, None


def _pixels(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B·H·W, C): a view for a channels-last tensor, else a copy."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _image(m: Tensor, shape: torch.Size) -> Tensor:
    """(B·H·W, C) -> (B, C, H, W), channels-last (a view)."""
    b, c, h, w = shape
    return m.view(b, h, w, c).permute(0, 3, 1, 2)


def IGDN(channels: int, **kwargs) -> GDN:  # noqa: N802 - reads like a layer
    """Inverse GDN: x * sqrt(beta + gamma x^2)."""
    return GDN(channels, inverse=True, **kwargs)
