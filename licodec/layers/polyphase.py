"""The transforms' 5×5 stride-2 layers in polyphase form, for inference in float32.

g_a's convolutions and g_s's transposed convolutions (5×5, stride 2, padding 2) are ~97% of
an encode's or decode's arithmetic. Each is a 3×3 convolution in disguise (its polyphase
form): a transposed convolution's four output phases (even/odd rows × columns) read 3×3,
3×2, 2×3 and 2×2 taps of the input, i.e. one 3×3 convolution to 4·C_out channels followed
by a 2×2 pixel shuffle; a strided convolution is one 3×3 convolution of the input's 2×2
space-to-depth (4·C_in channels).

Wide layers (192 channels) run the 3×3 form with Winograd's minimal filtering F(4×4, 3×3)
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): a 4×4 block
of output from a 6×6 block of input with 36 products per (input, output) channel pair
instead of 144::

    x --pad, 6×6 tiles (stride 4)--> d --Bᵀ d B--> V (36, tiles, K_in)
    U = G w Gᵀ (36, K_in, K_out), once per layer
    M = V @ U + bias at point (1, 1)   (36 matrix products: most of the time)
    y = Aᵀ M A (4×4 per tile) --> its place in the output (the pixel shuffle for g_s)

so a 192-channel layer takes 2.8× fewer multiplications than the direct 5×5 one (36 instead
of 100 per 4 outputs of the 3×3 form, which itself has 36 taps where the 5×5 layer has 25),
in large matrix products that run near the CPU's peak; the transforms are C kernels
(``_winograd.c``; PyTorch matrix products where it was not built). g_s's last layer (192 →
3 channels: products too thin for Winograd) runs its 3×3 form as one direct convolution to
12 channels, which oneDNN computes faster than the transposed one. Outputs equal the direct
layer's up to float32 rounding (relative error ~1e-5 of a layer's largest output for
Winograd, ~2e-6 for the direct 3×3 form).

The codec's transforms use them (``licodec.codec.precision.polyphase_plan``) at inference
and in the encoder's latent search, where g_s's transposed convolutions are differentiated
with respect to their input only: the adjoint of a transposed convolution is the strided
convolution with the same weights, in polyphase form as well (``differentiable``).
Training differentiates through the plain layers.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from ..native import empty_huge, load_extension, ptr

__all__ = ["WinogradConv", "WinogradDeconv", "PolyphaseDeconv", "polyphase_layer", "differentiable", "TILES_PER_BAND", "MIN_TILES"]

# Lavin & Gray's F(4×4, 3×3) for correlation: Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))

#: Tiles (4×4 outputs of the 3×3 form) per band: the band's transformed input and products
#: (36 × tiles × channels float32: ~10 MB for 768 channels) stay near the caches, and the
#: products keep enough rows to run at full speed (measured: 100-200 best on AVX2).
TILES_PER_BAND = 128
#: Below this many tiles the direct layer is faster (the fixed costs dominate).
MIN_TILES = 16


def _taps(deconv: bool) -> tuple[tuple[int | None, ...], ...]:
    """The 5×5 tap of each (phase, offset −1/0/+1) of the 3×3 polyphase form.

    Transposed conv (stride 2, padding 2): out[2i + a] = Σ x[n] w[t] with 2n − 2 + t = 2i + a,
    n = i + d: t = 2 − 2d (a = 0), 3 − 2d (a = 1). Conv: out[i] = Σ x[2i − 2 + t] w[t], input
    phase a at n = i + d: t = 2d + 2 (a = 0), 2d + 3 (a = 1)."""
    if deconv:
        return (4, 2, 0), (None, 3, 1)
    return (0, 2, 4), (1, 3, None)


def _polyphase(weight: Tensor, deconv: bool) -> Tensor:
    """A 5×5 stride-2 layer's weight -> the 3×3 correlation kernel of its polyphase form as
    (K_in, K_out, 9): K_out = (a, b, c_out) for a transposed conv, K_in = (a, b, c_in) for a conv."""
    w = weight.detach().float()
    taps = _taps(deconv)
    if deconv:  # (C_in, C_out, 5, 5)
        cin, cout = w.shape[:2]
        k = w.new_zeros(cin, 2, 2, cout, 3, 3)
    else:  # (C_out, C_in, 5, 5)
        cout, cin = w.shape[:2]
        k = w.new_zeros(2, 2, cin, cout, 3, 3)
    for a in range(2):
        for b in range(2):
            for di, ti in enumerate(taps[a]):
                for dj, tj in enumerate(taps[b]):
                    if ti is None or tj is None:
                        continue
                    if deconv:
                        k[:, a, b, :, di, dj] = w[:, :, ti, tj]
                    else:
                        k[a, b, :, :, di, dj] = w[:, :, ti, tj].t()
    return k.view(cin, 4 * cout, 9) if deconv else k.view(4 * cin, cout, 9)


_LIB: ctypes.CDLL | None | bool = False  # False: not looked up yet


def kernels() -> ctypes.CDLL | None:
    """The compiled transforms (``_winograd.c``), or None (not built, or LICODEC_KERNELS=0)."""
    global _LIB
    if _LIB is False:
        _LIB = load_extension(Path(__file__).parent, "_winograd", ("lc_wino_in", "lc_wino_out"))
    return _LIB if os.environ.get("LICODEC_KERNELS", "1") != "0" else None


class _Winograd:
    """What both Winograd forms share: U from the 3×3 kernel (K_in, K_out, 9), and the tiles,
    transforms and products of the 3×3 form's input, band by band (``run``)."""

    def __init__(self, k3: Tensor, bias: Tensor | None) -> None:
        g = torch.tensor(_G, dtype=torch.float32)
        self.k_in, self.k_out = k3.shape[:2]
        # G g Gᵀ for every channel pair: (36, K_in, K_out), row x·6+y
        self.u = (torch.kron(g, g) @ k3.view(-1, 9).t()).view(36, self.k_in, self.k_out)
        bt, at = torch.tensor(_BT, dtype=torch.float64), torch.tensor(_AT, dtype=torch.float64)
        self.b2 = torch.kron(bt, bt).float()  # (36, 36): row x·6+y, column i·6+j
        self.a2 = torch.kron(at, at).float()  # (16, 36)
        # Aᵀ's second column is all ones: a bias added to the products at point (1, 1) adds it
        # to all 16 outputs of the tile (1/36 of the data instead of all of the output).
        self.bias = None if bias is None else bias.detach().float().repeat(self.k_out // bias.numel()).contiguous()

    def suits(self, x: Tensor) -> bool:
        """Whether x (1, C, H, W) is large enough for this form to be faster than the direct layer."""
        h, w = x.shape[2:]
        tiles = -(-h // 4) * -(-w // 4) if isinstance(self, WinogradDeconv) else -(-h // 8) * -(-w // 8)
        return tiles >= MIN_TILES

    def run(self, src: Tensor, grid: Tensor) -> None:
        """The 3×3 convolution (padding 1) of ``src``, a (rows, cols, *phases, C) view of the
        layer's input (K_in = phases × C channels per position), into ``grid``, a
        (Th, 4, Tw, 4, *phases, C) view of the output where tile (ti, tj)'s output (u, v) of
        channel k = (phase, c) goes."""
        rows, cols = src.shape[:2]
        th, tw, k = -(-rows // 4), -(-cols // 4), self.k_in
        lib = kernels() if src.shape[-1] % 8 == 0 and grid.shape[-1] % 8 == 0 else None  # 8 channels at a time
        nb_max = max(1, TILES_PER_BAND // tw)
        if lib is not None:
            si, so = src.stride(), grid.stride()
            ioff, ooff = _offsets(src.shape[2:-1], si[2:-1]), _offsets(grid.shape[4:-1], so[4:-1])
            # one buffer each for every band's V and M (fresh memory costs a page fault per 4 KB)
            v, mb = empty_huge(36 * nb_max * tw * k), empty_huge(36 * nb_max * tw * self.k_out)
        else:  # zero-padded and tiled in PyTorch
            pad = torch.zeros(4 * th + 2, 4 * tw + 2, k)
            pad[1 : rows + 1, 1 : cols + 1] = src.reshape(rows, cols, k)
            wp = pad.shape[1]
        for t0 in range(0, th, nb_max):
            nb = min(nb_max, th - t0)
            n = nb * tw
            if lib is not None:
                vn, m = v[: 36 * n * k].view(36, n, k), mb[: 36 * n * self.k_out].view(36, n, self.k_out)
                lib.lc_wino_in(ptr(src), _I(rows), _I(cols), _I(si[0]), _I(si[1]), _I(src.shape[-1]), ptr(ioff),
                               _I(k), _I(t0), _I(tw), _I(n), ptr(vn))
                torch.bmm(vn, self.u, out=m)
            else:
                d = pad.as_strided((6, 6, nb, tw, k), (wp * k, k, 4 * wp * k, 4 * k, 1), 4 * t0 * wp * k)
                m = torch.bmm(torch.mm(self.b2, d.reshape(36, -1)).view(36, n, k), self.u)
            if self.bias is not None:
                m[7] += self.bias
            if lib is not None:
                lib.lc_wino_out(ptr(m), _I(self.k_out), _I(t0), _I(tw), _I(n), ptr(grid),
                                _I(so[0]), _I(so[1]), _I(so[2]), _I(so[3]), _I(grid.shape[-1]), ptr(ooff))
            else:
                y = torch.mm(self.a2, m.view(36, -1)).view(4, 4, nb, tw, self.k_out).permute(2, 0, 3, 1, 4)
                grid[t0 : t0 + nb].copy_(y.reshape(nb, 4, tw, 4, *grid.shape[4:]))


def _offsets(shape: tuple[int, ...], strides: tuple[int, ...]) -> Tensor:
    """The element offset of every index of ``shape`` (row-major) under ``strides``."""
    out = [0]
    for n, s in zip(shape, strides):
        out = [o + i * s for o in out for i in range(n)]
    return torch.tensor(out, dtype=torch.int64)


_I = ctypes.c_int64


class WinogradDeconv(_Winograd):
    """``nn.ConvTranspose2d(C_in, C_out, 5, stride=2, padding=2, output_padding=1)`` at inference:
    (1, C_in, H, W) -> (1, C_out, 2H, 2W) float32, channels-last."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__(_polyphase(layer.weight.detach(), True), layer.bias)
        self.c_out = self.k_out // 4
        self.weight = layer.weight.detach()
        self._adjoint: WinogradConv | None = None

    def adjoint(self, g: Tensor) -> Tensor:
        """The gradient of the output with respect to the input: the transposed convolution's
        adjoint is the strided convolution with the same weights (no bias), in Winograd form."""
        if self._adjoint is None:
            conv = nn.Conv2d(self.weight.shape[1], self.weight.shape[0], 5, 2, 2, bias=False)
            conv.weight = nn.Parameter(self.weight, requires_grad=False)
            self._adjoint = WinogradConv(conv)
        return self._adjoint(g)

    def __call__(self, x: Tensor) -> Tensor:
        _, c, h, w = x.shape
        th, tw = -(-h // 4), -(-w // 4)
        out = empty_huge(1, self.c_out, 8 * th, 8 * tw, channels_last=True)
        # output pixel (2(4·ti + u) + a, 2(4·tj + v) + b) is tile (ti, tj)'s (u, v), channel (a, b, c)
        grid = out[0].permute(1, 2, 0).view(th, 4, 2, tw, 4, 2, self.c_out).permute(0, 1, 3, 4, 2, 5, 6)
        self.run(x[0].permute(1, 2, 0).contiguous(), grid)
        if 8 * th != 2 * h or 8 * tw != 2 * w:
            out = out[:, :, : 2 * h, : 2 * w].contiguous(memory_format=torch.channels_last)
        return out


class WinogradConv(_Winograd):
    """``nn.Conv2d(C_in, C_out, 5, stride=2, padding=2)`` at inference: (1, C_in, H, W), H and W
    even -> (1, C_out, H/2, W/2) float32, channels-last."""

    def __init__(self, layer: nn.Conv2d) -> None:
        super().__init__(_polyphase(layer.weight.detach(), False), layer.bias)
        self.c_in = self.k_in // 4

    def __call__(self, x: Tensor) -> Tensor:
        _, c, h2, w2 = x.shape
        if h2 % 2 or w2 % 2:
            raise ValueError(f"WinogradConv needs an even height and width, got {h2}×{w2}")
        h, w = h2 // 2, w2 // 2
        th, tw = -(-h // 4), -(-w // 4)
        # space to depth, as a view: input (2n + a, 2m + b, c) is position (n, m), channel (a, b, c)
        src = x[0].permute(1, 2, 0).contiguous().view(h, 2, w, 2, c).transpose(1, 2)
        out = empty_huge(1, self.k_out, 4 * th, 4 * tw, channels_last=True)
        self.run(src, out[0].permute(1, 2, 0).view(th, 4, tw, 4, self.k_out))
        if 4 * th != h or 4 * tw != w:
            out = out[:, :, :h, :w].contiguous(memory_format=torch.channels_last)
        return out


class PolyphaseDeconv:
    """A narrow ``nn.ConvTranspose2d(C_in, C_out, 5, stride=2, padding=2, output_padding=1)`` as
    one direct 3×3 convolution to 4·C_out channels and a pixel shuffle: (1, C_in, H, W) ->
    (1, C_out, 2H, 2W) float32 (g_s's last layer: 84 -> 61 ms for a 768×512 image on two
    AVX2 cores)."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        k = _polyphase(layer.weight.detach(), True)  # (C_in, (a, b, c), 9)
        self.c_out = k.shape[1] // 4
        self.weight = k.permute(1, 0, 2).reshape(k.shape[1], k.shape[0], 3, 3).contiguous(memory_format=torch.channels_last)
        self.bias = None if layer.bias is None else layer.bias.detach().float().repeat(4)
        self.deconv_weight = layer.weight.detach()

    def suits(self, x: Tensor) -> bool:
        return True

    def adjoint(self, g: Tensor) -> Tensor:
        """The gradient of the output with respect to the input (the strided convolution)."""
        return torch.nn.functional.conv2d(g, self.deconv_weight, None, 2, 2)

    def __call__(self, x: Tensor) -> Tensor:
        _, _, h, w = x.shape
        y = torch.nn.functional.conv2d(x, self.weight, self.bias, 1, 1)  # (1, (a, b, c), h, w)
        return y.view(2, 2, self.c_out, h, w).permute(2, 3, 0, 4, 1).reshape(1, self.c_out, 2 * h, 2 * w)


class _Frozen(torch.autograd.Function):
    """A frozen transposed convolution in polyphase form, differentiable with respect to its
    input (the encoder's latent search): the backward pass is the adjoint, in polyphase form
    as well."""

    @staticmethod
    def forward(ctx, x: Tensor, f: "WinogradDeconv | PolyphaseDeconv") -> Tensor:
        ctx.f = f
        return f(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, None]:
        return ctx.f.adjoint(g.contiguous(memory_format=torch.channels_last)), None


def differentiable(f: "WinogradDeconv | PolyphaseDeconv", x: Tensor) -> Tensor:
    """``f(x)`` with the gradient with respect to x (the layer's weights stay fixed)."""
    return _Frozen.apply(x, f)


def polyphase_layer(layer: nn.Module, wide: int = 32) -> WinogradConv | WinogradDeconv | PolyphaseDeconv | None:
    """The polyphase form of a 5×5 stride-2 layer (padding 2; output padding 1 if transposed):
    Winograd where input and output have at least ``wide`` channels, the direct 3×3 form for
    a narrower transposed convolution (g_s's last layer), None otherwise (g_a's first layer:
    its 3×3 form measured slower)."""
    if isinstance(layer, nn.ConvTranspose2d):
        if layer.output_padding != (1, 1):
            return None
        deconv = True
    elif isinstance(layer, nn.Conv2d):
        deconv = False
    else:
        return None
    if not (layer.kernel_size == (5, 5) and layer.stride == (2, 2) and layer.padding == (2, 2)
            and layer.dilation == (1, 1) and layer.groups == 1 and layer.padding_mode == "zeros"):
        return None
    if min(layer.in_channels, layer.out_channels) >= wide:
        return WinogradDeconv(layer) if deconv else WinogradConv(layer)
    return PolyphaseDeconv(layer) if deconv else None
