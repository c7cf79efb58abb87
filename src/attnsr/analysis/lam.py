"""Local Attribution Maps (LAM) and the Diffusion Index (DI): the path, the detector, the attribution.

Figures are in :mod:`.lam_figures`, the crop set of A2N Table 7 (manifest, DI over a set) in
:mod:`.lam_crops`.

Method: J. Gu, C. Dong, "Interpreting Super-Resolution Networks with Local Attribution Maps",
CVPR 2021 (arXiv:2011.11036); official code github.com/X-Lowlevel-Vision/LAM_Demo. Used by A2N
(Table 7, Fig. 8). Exactly SPEC §4:

- detector ``D(O) = Σ_c Σ_{(i,j) ∈ window} sqrt((O[i,j]−O[i+1,j])² + (O[i,j]−O[i,j+1])² + eps)``: the
  window's h×w pixels with their +1 neighbours below and to the right (so the window plus one row and
  one column must lie inside the SR output);
- baseline ``x_0 = blur(I, σ)``, a normalised 9×9 Gaussian with σ = 1.2 and reflect padding;
- path ``σ_k = σ(1 − k/m)``, ``x_k = blur(I, σ_k)`` for k = 0..m (m = 50; σ = 0 is the identity, so
  ``x_m = I``);
- ``LAM = Σ_{k=1..m} ∇D(F(x_k)) ⊙ (x_k − x_{k−1})``; NaN gradient entries are set to 0 and counted;
- ``M = |Σ_channels LAM| / max``; ``G = Σ_i (2i − n − 1) v_i / (n Σ v)`` over ascending ``v = M + 1e-7``,
  i = 1..n; ``DI = (1 − G) · 100``.

Deviations and choices, each deliberate:

- ``eps`` (default 1e-12) inside the detector's square root. Without it the gradient of sqrt at an exact
  zero difference is inf·0 = NaN, and that NaN spreads through the backward pass to every input pixel
  whose receptive field covers the pixel; zeroing them (as the official code does) then silently
  removes a whole region from the attribution. Exact zeros happen on flat image regions (any conv net
  gives a constant output in the interior of a constant input). For float32 outputs in [0, 1] a
  squared difference of one 8-bit level is 1.5e-5, so 1e-12 changes no other gradient by more than a
  part in 10⁷. ``eps=0`` gives the official detector.
- ``reflect`` padding is PyTorch's (mirror without repeating the edge), which is also OpenCV's default
  ``BORDER_REFLECT_101`` used by the official ``cv2.filter2D``.
- The official code averages ``grad·(x_k − x_{k−1})·m`` over the m points; that is ``LAM`` times a
  constant, which the normalisation of ``M`` removes.
- Path points are evaluated in batches (``batch_size``); in eval mode a sample's output does not
  depend on the rest of its batch, so the gradient of ``Σ_batch D`` is each point's own gradient. The
  result equals the one-point-at-a-time map to float rounding (tested).
- ``points`` N (an option; the default ``None`` is the sum above exactly, a gradient at every point) computes
  the gradient at only N of the m + 1 path points and takes it linear in k between two computed points, so
  the same m-point sum costs N forward/backward passes instead of m (:func:`path_weights`). Which points:
  the path's increments are not uniform (σ_k is linear in k, but a 9×9 Gaussian of σ < 0.3 is nearly the
  identity, so the last ~10 of 50 increments are ~0 and most of the change lies at σ ≈ 0.3–0.8), so it
  starts from ``START_POINTS`` points at equal shares of the increments' total |Δ| (:func:`mass_nodes`),
  then repeatedly halves the interval (a, b) whose estimated error ``Σ_pixels |Σ_c (g_b − g_a) ⊙ (x_b −
  x_a)|`` (the right-point minus the left-point rule on it) is largest (:func:`adaptive_nodes`), one point
  at a time, so the result does not depend on ``batch_size``. This estimates the m-point sum itself, not
  the integral it approximates (a plain m-step path with fewer steps moves DI by the sum's own O(1/m)
  error, always the same way). ``FAST_POINTS``, the default of ``attnsr analyze lam`` and of the web page,
  is the fewest points that keep every crop's DI within 1 % of the 50-point one on the crops measured, for
  both models (benchmarks/lam_speed_click.py); ``points=None`` stays the library's default and the crop-set
  evaluation's.
- ``precision``: the model's forward under autocast (:mod:`attnsr.precision`); the gradient and the
  sum stay float32/float64.
- LR images are made with the project's MATLAB bicubic (the official demo uses PIL bicubic).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import AttnsrError
from ..precision import autocast, resolve_precision

log = logging.getLogger(__name__)

SIGMA = 1.2
STEPS = 50
KERNEL_SIZE = 9
GINI_OFFSET = 1e-7
DETECTOR_EPS = 1e-12
WINDOW_SIZE = 16  # HR pixels, the window side of A2N Fig. 8 and Table 7
BATCH_SIZE = 4  # path points per forward/backward (4-5 beat 10 on a CPU: benchmarks/lam_speed_click.py)
FAST_POINTS = 20  # gradients at 20 of the 51 path points, linear in between (see the module docstring)
START_POINTS = 6  # points placed by increment mass before the adaptive halving starts


@dataclass(frozen=True)
class Window:
    """An HR window: top-left ``(row, col)``, ``height`` × ``width`` pixels."""

    row: int
    col: int
    height: int = WINDOW_SIZE
    width: int = WINDOW_SIZE

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"ROW,COL"`` (``WINDOW_SIZE`` square), ``"ROW,COL,SIZE"`` or ``"ROW,COL,H,W"``."""
        parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (2, 3, 4) or any(n < 0 for n in nums) or any(n == 0 for n in nums[2:]):
            raise AttnsrError(f"window {text!r} is not ROW,COL[,SIZE] or ROW,COL,H,W with positive sizes")
        if len(nums) == 3:
            nums.append(nums[2])
        return cls(*nums)

    def check(self, height: int, width: int) -> None:
        """Raise unless the window and its +1 neighbours fit an image of ``height`` × ``width``."""
        if self.row + self.height + 1 > height or self.col + self.width + 1 > width:
            raise AttnsrError(
                f"window {self.height}x{self.width} at ({self.row}, {self.col}) plus its +1 neighbours does "
                f"not fit the {height}x{width} SR output (needs row + h < {height} and col + w < {width})"
            )


# ---------------------------------------------------------------------------------------------- path


def gaussian_kernels(
    sigmas: Tensor | list[float], size: int = KERNEL_SIZE, *, dtype: torch.dtype = torch.float64
) -> Tensor:
    """K normalised isotropic ``size``×``size`` Gaussians (K×size×size), one per sigma, in one go;
    ``sigma == 0`` gives the identity (a delta)."""
    s = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if bool((s < 0).any()):
        raise ValueError(f"sigmas must be >= 0, got {s.min().item()}")
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    ax = torch.arange(size, dtype=torch.float64) - size // 2
    r2 = (ax[:, None] ** 2 + ax[None, :] ** 2)[None]  # (1, s, s)
    var = (2 * s**2).clamp_min(torch.finfo(torch.float64).tiny)[:, None, None]
    k = torch.exp(-r2 / var)  # σ = 0 (or tiny): exp(−r²/tiny) is 1 at the centre and 0 elsewhere
    return (k / k.sum(dim=(1, 2), keepdim=True)).to(dtype)


def gaussian_kernel(sigma: float, size: int = KERNEL_SIZE, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Normalised isotropic ``size``×``size`` Gaussian; ``sigma == 0`` gives the identity (a delta)."""
    return gaussian_kernels([sigma], size, dtype=dtype)[0]


def _blur_stack(img: Tensor, kernels: Tensor) -> Tensor:
    """Blur one 1×C×H×W image by K kernels (K×s×s) at once → K×C×H×W (reflect padding)."""
    n_k, size = kernels.shape[0], kernels.shape[-1]
    pad = size // 2
    c = img.shape[1]
    x = F.pad(img.permute(1, 0, 2, 3), (pad, pad, pad, pad), mode="reflect")  # (C, 1, H+2p, W+2p)
    out = F.conv2d(x, kernels[:, None].to(x.dtype))  # (C, K, H, W)
    return out.permute(1, 0, 2, 3).reshape(n_k, c, *img.shape[-2:])


def blur(img: Tensor, sigma: float, size: int = KERNEL_SIZE) -> Tensor:
    """Gaussian blur of N×C×H×W ``img`` (any range) with a normalised ``size``² kernel, reflect padding.

    ``sigma == 0`` returns ``img`` unchanged. Computed in ``img``'s dtype.
    """
    if sigma == 0:
        return img.clone()
    k = gaussian_kernel(sigma, size, dtype=img.dtype)
    return torch.cat([_blur_stack(img[i : i + 1], k[None]) for i in range(img.shape[0])])


def blur_path(
    lr: Tensor, *, sigma: float = SIGMA, steps: int = STEPS, size: int = KERNEL_SIZE
) -> tuple[Tensor, Tensor]:
    """The progressive-blur path of LAM for one LR image ``lr`` (1×C×h×w, [0, 1]).

    Returns ``(points, increments)``: ``points`` is (m+1)×C×h×w with ``points[k] = blur(lr, σ(1 − k/m))``
    (``points[0]`` the baseline, ``points[m] = lr``); ``increments[k-1] = points[k] − points[k-1]`` for
    k = 1..m. Computed in float64 (so the increments telescope to ``lr − baseline`` to 1e-15) and
    returned in ``lr``'s dtype.
    """
    if lr.dim() != 4 or lr.shape[0] != 1:
        raise ValueError(f"blur_path takes one image 1×C×H×W, got {tuple(lr.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    pad = size // 2
    if min(lr.shape[-2:]) <= pad:
        raise AttnsrError(f"LR image {tuple(lr.shape[-2:])} too small for a {size}x{size} reflect-padded blur")
    sigmas = [sigma * (1 - k / steps) for k in range(steps + 1)]
    kernels = gaussian_kernels(sigmas, size)
    points = _blur_stack(lr.detach().to(torch.float64), kernels)
    points[-1] = lr.detach().to(torch.float64)  # σ = 0: exactly the image
    increments = points[1:] - points[:-1]
    return points.to(lr.dtype), increments.to(lr.dtype)


# ------------------------------------------------------------------------------------ attribution


def gradient_detector(out: Tensor, window: Window, *, eps: float = DETECTOR_EPS) -> Tensor:
    """LAM's detector per sample: Σ over channels and the window of the local gradient magnitude.

    ``out``: N×C×H×W model output. Returns (N,). See the module docstring for ``eps``.
    """
    window.check(out.shape[-2], out.shape[-1])
    r, c, h, w = window.row, window.col, window.height, window.width
    o = out[..., r : r + h + 1, c : c + w + 1]  # the window plus one row below and one column right
    dv = o[..., :h, :w] - o[..., 1:, :w]  # O[i,j] − O[i+1,j]
    dh = o[..., :h, :w] - o[..., :h, 1:]  # O[i,j] − O[i,j+1]
    return torch.sqrt(dv * dv + dh * dh + eps).sum(dim=(1, 2, 3))


def lam_map(attribution: Tensor) -> Tensor:
    """``M = |Σ_channels LAM| / max`` (h×w, float64, in [0, 1]); all zeros when LAM is zero."""
    m = attribution.to(torch.float64).sum(dim=0).abs()
    peak = m.max()
    return m / peak if peak > 0 else m


def gini(values: Tensor | np.ndarray) -> float:
    """Gini coefficient ``Σ_i (2i − n − 1) v_i / (n Σ v)`` of ascending ``v = values + 1e-7``, i = 1..n.

    ``values``: a non-negative map (any shape), e.g. the LAM map M.
    """
    v = torch.as_tensor(np.asarray(values), dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("gini of an empty map")
    v = torch.sort(v + GINI_OFFSET).values
    n = v.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(((2 * i - n - 1) * v).sum() / (n * v.sum()))


def diffusion_index(values: Tensor | np.ndarray) -> float:
    """DI = (1 − Gini) · 100 of a LAM map: 100 for a uniform map, near 0 for a single pixel."""
    return (1 - gini(values)) * 100


@dataclass
class LamResult:
    """LAM of one image and window.

    ``attribution``: C×h×w float64 LAM; ``map``: h×w M in [0, 1]; ``sr``: 1×C×H×W model output for the
    image itself (unclamped); ``nan_gradients``: number of NaN gradient entries set to zero over the path;
    ``sigma``, ``steps``: the path it was computed on; ``points``: at how many of its points the gradient was
    computed (``steps``: all, the exact sum).
    """

    window: Window
    attribution: Tensor
    map: Tensor
    gini: float
    di: float
    nan_gradients: int
    sr: Tensor
    seconds: float = 0.0
    sigma: float = SIGMA
    steps: int = STEPS
    points: int = STEPS  # path points whose gradient was computed (``steps`` for the exact sum)

    def to_dict(self) -> dict:
        """The result's numbers, JSON-ready: every field but the tensors, ``window`` as [row, col, h, w]."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if not isinstance(getattr(self, f.name), Tensor)}
        return {**out, "window": list(astuple(self.window))}


def path_weights(increments: Tensor, nodes: list[int]) -> tuple[list[int], Tensor]:
    """The weight each computed gradient is multiplied by, for gradients known only at the path points
    ``nodes`` (ascending, containing 0 and m) and taken linear in k between two of them.

    ``increments``: m×C×h×w, ``increments[k-1] = x_k − x_{k−1}`` (:func:`blur_path`). With the gradient g_k
    linear in k between two nodes a < b, ``Σ_{k=1..m} g_k ⊙ Δ_k = Σ_n g_n ⊙ W_n`` with ``W_n = Σ_k λ_n(k) Δ_k``
    (λ_n the hat function of node n: ``(k − a)/(b − a)`` rising to n = b, ``(b − k)/(b − a)`` falling from
    n = a). All of 0..m gives W_k = Δ_k, the exact sum (node 0 then has no weight and is dropped). Returns
    ``(nodes, weights)``: the nodes with a weight and their weights, len(nodes)×C×h×w float64.
    """
    m = increments.shape[0]
    nodes = np.array(sorted(set(nodes)))
    if nodes[0] != 0 or nodes[-1] != m:
        raise ValueError(f"the nodes must run from 0 to {m}, got {nodes[0]}..{nodes[-1]}")
    k = np.arange(1, m + 1)
    i = np.searchsorted(nodes, k) - 1  # k lies in (nodes[i], nodes[i + 1]]
    a, b = nodes[i], nodes[i + 1]
    hats = np.zeros((len(nodes), m))  # hats[n, k-1] = λ_{nodes[n]}(k)
    hats[i, k - 1] = (b - k) / (b - a)
    hats[i + 1, k - 1] = (k - a) / (b - a)
    used = np.flatnonzero(hats.any(axis=1))
    weights = torch.tensordot(torch.from_numpy(hats[used]), increments.to(torch.float64), dims=1)
    return nodes[used].tolist(), weights


def mass_nodes(increments: Tensor, count: int) -> list[int]:
    """About ``count`` path points, 0 and m included, at equal shares of the increments' total |Δ|: the first
    k where the cumulative share reaches j/(count − 1), j = 1..count − 2 (duplicates merged)."""
    m = increments.shape[0]
    mass = increments.to(torch.float64).abs().sum(dim=tuple(range(1, increments.dim()))).numpy()
    share = np.concatenate([[0.0], np.cumsum(mass)])
    share = share / share[-1] if share[-1] > 0 else np.linspace(0, 1, m + 1)
    inner = (int(np.searchsorted(share, j / (count - 1))) for j in range(1, count - 1))
    return sorted({0, m, *(min(max(k, 1), m - 1) for k in inner)})


def adaptive_nodes(
    increments: Tensor, gradients: Callable[[list[int]], Tensor], *, points: int | None
) -> tuple[list[int], Tensor]:
    """Choose the path points whose gradient is computed, computing them: ``gradients(nodes)`` returns
    ∇D(F(x_n)) for those points (len×C×h×w). ``points=None`` (or ≥ m): every point 1..m, the exact sum.
    Otherwise :func:`mass_nodes` of ``START_POINTS``, then one point at a time the midpoint of the interval
    with the largest estimated error (module docstring), until ``points`` are computed or no interval can be
    halved or every estimated error is 0. Returns ``(nodes, grads)``: ascending point indices and their
    gradients (float64)."""
    m = increments.shape[0]
    if points is not None and points < 3:
        raise ValueError(f"points must be at least 3 (or None for all), got {points}")
    if points is None or points >= m:
        nodes = list(range(1, m + 1))
        return nodes, gradients(nodes).to(torch.float64)
    nodes = mass_nodes(increments, min(START_POINTS, points))
    computed = dict(zip(nodes, gradients(nodes).to(torch.float64)))
    travelled = torch.cat([torch.zeros_like(increments[:1]), increments]).to(torch.float64).cumsum(dim=0)
    while len(computed) < points:
        order = sorted(computed)
        spans = [(a, b) for a, b in zip(order, order[1:]) if b - a >= 2]
        if not spans:
            break
        errors = [
            float(((computed[b] - computed[a]) * (travelled[b] - travelled[a])).sum(dim=0).abs().sum())
            for a, b in spans
        ]
        if max(errors) == 0:  # linear everywhere as far as the computed points tell: nothing left to halve
            break
        a, b = spans[int(np.argmax(errors))]
        mid = (a + b) // 2
        computed[mid] = gradients([mid])[0].to(torch.float64)
    order = sorted(computed)
    return order, torch.stack([computed[n] for n in order])


def integrate(increments: Tensor, nodes: list[int], grads: Tensor) -> Tensor:
    """``Σ_k g_k ⊙ Δ_k`` from the gradients ``grads`` at ``nodes`` (linear in k between them): C×h×w float64.
    The nodes 1..m give the sum exactly."""
    if nodes == list(range(1, increments.shape[0] + 1)):
        return (grads.to(torch.float64) * increments.to(torch.float64)).sum(dim=0)
    used, weights = path_weights(increments, nodes)
    index = {n: i for i, n in enumerate(nodes)}
    return (grads[[index[n] for n in used]].to(torch.float64) * weights).sum(dim=0)


def path_gradients(
    model: nn.Module,
    points: Tensor,
    window: Window,
    *,
    batch_size: int = BATCH_SIZE,
    eps: float = DETECTOR_EPS,
    precision: str = "fp32",
    memory_format: torch.memory_format = torch.channels_last,
) -> Iterator[tuple[Tensor, int, Tensor]]:
    """``∇D(F(x))`` for the K path points ``points`` (K×C×h×w, on the model's device), ``batch_size`` at a time.

    Yields ``(grad, nan_count, out)`` per batch: the float32 gradients with NaN entries set to 0, how many
    there were, and the batch's detached model output. ``precision``: ``fp32`` or ``bf16`` (the forward
    under autocast). The model must be in eval mode (see the module docstring on batching).
    ``memory_format``: the layout the points enter the model in (the model's parameters are left as they are);
    channels_last made one fp32 point of A2N / PAN ×4 on a 64×64 input 1.25–1.33× faster on 1 thread and
    1.55–1.82× on 2 of the development Xeon (``benchmarks/lam_speed_click.py``, "layout").
    """
    device = points.device
    for b in range(0, points.shape[0], batch_size):
        x = points[b : b + batch_size].clone(memory_format=memory_format).requires_grad_(True)
        with autocast(precision, device):
            out = model(x)
        detector = gradient_detector(out.float(), window, eps=eps).sum()
        (grad,) = torch.autograd.grad(detector, x)
        nan = torch.isnan(grad)
        n_nan = int(nan.sum())
        yield (grad.masked_fill(nan, 0.0) if n_nan else grad), n_nan, out.detach()


def local_attribution_map(
    model: nn.Module,
    lr: Tensor,
    window: Window,
    *,
    sigma: float = SIGMA,
    steps: int = STEPS,
    kernel_size: int = KERNEL_SIZE,
    batch_size: int = BATCH_SIZE,
    eps: float = DETECTOR_EPS,
    device: torch.device | str | None = None,
    points: int | None = None,
    precision: str = "fp32",
) -> LamResult:
    """LAM of ``model`` for the HR ``window`` of its output on ``lr`` (1×3×h×w float RGB in [0, 1]).

    ``points=None``: the gradient at every path point x_1..x_m, ``batch_size`` at a time (``batch_size=1``: one
    at a time); an int N: at N adaptively chosen points only (:func:`adaptive_nodes`, e.g. ``FAST_POINTS``).
    ``precision``: ``fp32``, ``bf16`` or ``auto`` (bf16 where the CPU computes it natively) for the model's
    forward. The model runs in eval mode (its training flag is restored); its parameters get no gradients.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    start = time.perf_counter()
    device = torch.device(device) if device is not None else next(model.parameters(), lr).device
    precision = resolve_precision(precision, device)
    path, increments = blur_path(lr.to(torch.float32), sigma=sigma, steps=steps, size=kernel_size)
    path = path.to(device)
    nan_count, sr = 0, None

    def gradients(nodes: list[int]) -> Tensor:
        nonlocal nan_count, sr
        grads, at = [], 0
        for grad, n_nan, out in path_gradients(
            model, path[nodes], window, batch_size=batch_size, eps=eps, precision=precision
        ):
            nan_count += n_nan
            batch = nodes[at : at + grad.shape[0]]
            if steps in batch:  # x_m, the image itself: its output is the SR shown beside the map
                sr = out[batch.index(steps)][None]
            grads.append(grad.cpu())
            at += grad.shape[0]
        return torch.cat(grads)

    was_training = model.training
    model.eval()
    try:
        nodes, grads = adaptive_nodes(increments, gradients, points=points)
    finally:
        model.train(was_training)
    attribution = integrate(increments, nodes, grads)
    if nan_count:
        log.warning("LAM: %d NaN gradient entries set to 0", nan_count)
    m = lam_map(attribution)
    if not bool((m > 0).any()):
        log.warning("LAM: the attribution is zero everywhere (window %s)", window)
    g = gini(m)
    return LamResult(
        window=window,
        attribution=attribution.cpu(),
        map=m.cpu(),
        gini=g,
        di=(1 - g) * 100,
        nan_gradients=nan_count,
        sr=sr.float().cpu(),
        seconds=time.perf_counter() - start,
        sigma=sigma,
        steps=steps,
        points=len(nodes),
    )
