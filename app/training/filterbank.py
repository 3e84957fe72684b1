"""The default recipe's feature extractor: a fixed multi-scale filter bank, as one ONNX graph.

Input "image" (1, 3, H, W) float32 RGB 0..255 at the recipe's input size; output "features" (1, D).

1. Colour-opponent channels: grey (BT.601 luma) at full resolution; red-green and yellow-blue
   on the means of 8x8 cells (pooling and the 1x1 colour transform commute).
2. The part: the grey image averaged over 8x8 cells; cells brighter than the midpoint between the
   darkest and brightest cell are the part. Its mean grey level is the image's brightness, which
   every response is divided by (a darker lamp gives the same features); the chroma channels are
   centred on the part's mean colour (the camera's cast cancels). Outside the part eroded by one
   cell the image is filled with that mean, so the part's outline and the conveyor give no response.
3. Hessian of Gaussian filters (separable convolutions, scale-normalised) at each scale:
   eigenvalues l1 <= l2 and the gradient magnitude g give four maps,
   dark blob relu(l1), bright blob relu(-l2), bright ridge relu(-l1 - g), dark ridge relu(l2 - g).
   Beside a step edge the ridge term is matched by the gradient term (both 0.242 x the step one
   sigma from the edge), so "ridge minus gradient" answers an edge at most 0.067 x the step, a
   quarter of a plain ridge filter, while a thin line (no gradient at its centre) answers in full:
   scratches stay, the part's edges go. Blobs need both curvatures, which an edge lacks.
   Scales (sigma in full-resolution pixels): 1 at full resolution (pits are ~5 px, scratches 2 px
   thin: a global downsample would lose them), 2 and 4 at half resolution, and 8, 16, 28 on the
   8x8 cells (dents, stains), where the two chroma channels are filtered too.
4. Pooling: each map is max-pooled onto the 8x8 cell grid, masked by the part eroded by two cells
   (16 px clear of its rim and the camera cut-out), and summarised over the whole part by its top
   value, the mean of its top 4 and top 16 cells, and the mean over the part (the noise level):
   defects are found wherever the part lies on the belt. Features are log(x + 1e-3).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.training.onnxgraph import Graph, tensor

CELL = 8
MAPS = ("dark_blob", "bright_blob", "bright_ridge", "dark_ridge")
STATS = ("top1", "top4", "top16", "mean")
OPPONENT = np.array([[0.299, 0.587, 0.114], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], dtype=np.float32)

DEFAULT_PARAMS: dict[str, Any] = {
    "input_height": 480,
    "input_width": 640,
    "cell": CELL,
    # (downsample factor, channels, sigma in that scale's pixels)
    "scales": [[1, "grey", 1.0], [2, "grey", 1.0], [2, "grey", 2.0], [8, "all", 1.0], [8, "all", 2.0],
               [8, "all", 3.5]],
    "fill_erode_cells": 1,
    "mask_erode_cells": 2,
    "topk": [1, 4, 16],
    "log_offset": 1e-3,
}


def gaussian_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled Gaussian and its first and second derivatives as correlation kernels (what ONNX Conv
    computes), radius ceil(3 sigma), sum(G) = 1, and the derivatives sum to 0 (a flat image gives 0)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    dg = x / sigma**2 * g
    d2g = (x**2 / sigma**4 - 1 / sigma**2) * g
    d2g -= d2g.mean()  # a flat image gives exactly 0
    return g, dg, d2g


def feature_names(params: Mapping[str, Any] = DEFAULT_PARAMS) -> list[str]:
    names = []
    for factor, channels, sigma in params["scales"]:
        for m in MAPS:
            for channel in (("grey",) if channels == "grey" else ("grey", "red_green", "yellow_blue")):
                names += [f"{channel}@{factor}x_s{sigma}:{m}:{s}" for s in STATS]
    return names


def build(params: Mapping[str, Any] = DEFAULT_PARAMS) -> bytes:
    """The feature graph's serialized ONNX model (deterministic bytes for given params)."""
    g = Graph("fb_")
    out = features(g, "image", params)
    h, w = params["input_height"], params["input_width"]
    model = g.model([tensor("image", [1, 3, h, w])], [tensor(out, [1, len(feature_names(params))])],
                    name="concord_filterbank")
    serialized: bytes = model.SerializeToString()
    return serialized


def features(g: Graph, image: str, params: Mapping[str, Any]) -> str:
    """Append the filter bank to `g`, reading `image`; returns the (1, D) features' name."""
    cell = params["cell"]
    # Colour is only filtered on the cells: pool first (pooling and the 1x1 colour transform commute).
    grey = g.op("Conv", image, g.const(OPPONENT[:1].reshape(1, 3, 1, 1) / 255.0))
    cells = g.op("Conv", g.op("AveragePool", image, kernel_shape=[cell, cell], strides=[cell, cell]),
                 g.const(OPPONENT.reshape(3, 3, 1, 1) / 255.0))
    coarse_grey, coarse_chroma = g.ops("Split", cells, g.const([1, 2], dtype=np.int64), outputs=2, axis=1)
    part = _part_mask(g, coarse_grey)
    level = _masked_mean(g, coarse_grey, part)
    chroma_level = _masked_mean(g, coarse_chroma, part)
    fill_cells = _erode(g, part, params["fill_erode_cells"])
    keep = _erode(g, part, params["mask_erode_cells"])
    grey_n = _filled(g, g.op("Div", grey, level), _upsample(g, fill_cells, cell), 1.0)
    chroma_n = _filled(g, g.op("Div", g.op("Sub", coarse_chroma, chroma_level), level), fill_cells, 0.0)
    pooled, sources = [], {1: grey_n}
    for factor, channels, sigma in params["scales"]:
        if factor not in sources:
            sources[factor] = g.op("AveragePool", grey_n, kernel_shape=[factor, factor], strides=[factor, factor])
        source, n_channels = sources[factor], 1
        if channels == "all":
            if factor != cell:
                raise ValueError("colour channels are filtered on the cells only")
            source, n_channels = g.op("Concat", source, chroma_n, axis=1), 3
        for response in _hessian_maps(g, source, n_channels, float(sigma)):
            pooled.append(_pool(g, response, keep, cell // factor, n_channels, params))
    stacked = g.op("Concat", *pooled, axis=1)
    logged = g.op("Log", g.op("Add", stacked, g.const(params["log_offset"])))
    return g.op("Flatten", logged, axis=1)


def _part_mask(g: Graph, coarse: str) -> str:
    high, low = g.op("ReduceMax", coarse, keepdims=0), g.op("ReduceMin", coarse, keepdims=0)
    threshold = g.op("Mul", g.op("Add", high, low), g.const(0.5))
    return g.op("Cast", g.op("Greater", coarse, threshold), to=1)


def _masked_mean(g: Graph, values: str, mask: str) -> str:
    total = g.op("ReduceSum", g.op("Mul", values, mask), g.const([2, 3], dtype=np.int64), keepdims=1)
    count = g.op("Max", g.op("ReduceSum", mask, g.const([2, 3], dtype=np.int64), keepdims=1), g.const(1.0))
    return g.op("Max", g.op("Div", total, count), g.const(1e-3))  # never divide by a black image's zero


def _erode(g: Graph, mask: str, cells: int) -> str:
    if cells == 0:
        return mask
    k = 2 * cells + 1
    inverse = g.op("Sub", g.const(1.0), mask)
    grown = g.op("MaxPool", inverse, kernel_shape=[k, k], strides=[1, 1], pads=[cells] * 4)
    return g.op("Sub", g.const(1.0), grown)


def _upsample(g: Graph, mask: str, factor: int) -> str:
    scales = g.const([1.0, 1.0, factor, factor])
    return g.op("Resize", mask, "", scales, mode="nearest", nearest_mode="floor",
                coordinate_transformation_mode="asymmetric")


def _filled(g: Graph, values: str, fill: str, background: float) -> str:
    inside = g.op("Mul", values, fill)
    return g.op("Add", inside, g.op("Mul", g.op("Sub", g.const(1.0), fill), g.const(background)))


def _hessian_maps(g: Graph, image: str, channels: int, sigma: float) -> list[str]:
    """Per channel: the four scale-normalised maps of `MAPS`, each (1, channels, h, w)."""
    gauss, d1, d2 = gaussian_kernels(sigma)
    radius = gauss.size // 2
    # Five separable products per channel: Dxx, Dyy, Dxy, Dx, Dy = (horizontal, vertical) kernels.
    pairs = [(d2, gauss), (gauss, d2), (d1, d1), (d1, gauss), (gauss, d1)]
    horizontal = np.stack([h for h, _ in pairs] * channels).reshape(5 * channels, 1, 1, -1)
    vertical = np.stack([v for _, v in pairs] * channels).reshape(5 * channels, 1, -1, 1)
    padded = g.op("Pad", image, g.const([0, 0, radius, radius, 0, 0, radius, radius], dtype=np.int64), mode="edge")
    rows = g.op("Conv", padded, g.const(horizontal), group=channels)
    both = g.op("Conv", rows, g.const(vertical), group=5 * channels)
    shaped = g.op("Reshape", both, g.const([0, channels, 5, -1], dtype=np.int64))
    dxx, dyy, dxy, dx, dy = (g.op("Mul", part, g.const(scale)) for part, scale in zip(
        g.ops("Split", shaped, g.const([1] * 5, dtype=np.int64), outputs=5, axis=2),
        (sigma**2, sigma**2, sigma**2, sigma, sigma), strict=True))
    half_trace = g.op("Mul", g.op("Add", dxx, dyy), g.const(0.5))
    half_diff = g.op("Mul", g.op("Sub", dxx, dyy), g.const(0.5))
    radius_t = g.op("Sqrt", g.op("Add", g.op("Mul", half_diff, half_diff), g.op("Mul", dxy, dxy)))
    low, high = g.op("Sub", half_trace, radius_t), g.op("Add", half_trace, radius_t)
    gradient = g.op("Sqrt", g.op("Add", g.op("Mul", dx, dx), g.op("Mul", dy, dy)))
    maps = [g.op("Relu", low), g.op("Relu", g.op("Neg", high)),
            g.op("Relu", g.op("Sub", g.op("Neg", low), gradient)), g.op("Relu", g.op("Sub", high, gradient))]
    return [_unflatten(g, m, image) for m in maps]


def _unflatten(g: Graph, flat: str, like: str) -> str:
    """(1, C, 1, h*w) back to the spatial shape of `like` (1, C, h, w)."""
    return g.op("Reshape", flat, g.op("Shape", like))


def _pool(g: Graph, response: str, keep: str, window: int, channels: int, params: Mapping[str, Any]) -> str:
    """(1, C, h, w) -> (1, C * 4) statistics over the part's cells."""
    cells = response if window == 1 else g.op("MaxPool", response, kernel_shape=[window, window],
                                               strides=[window, window])
    masked = g.op("Mul", cells, keep)
    flat = g.op("Reshape", masked, g.const([1, channels, -1], dtype=np.int64))
    ks: Sequence[int] = params["topk"]
    top, _ = g.ops("TopK", flat, g.const([max(ks)], dtype=np.int64), outputs=2, axis=-1, largest=1, sorted=1)
    averaging = np.zeros((max(ks), len(ks)), dtype=np.float32)
    for column, k in enumerate(ks):
        averaging[:k, column] = 1.0 / k
    tops = g.op("MatMul", top, g.const(averaging))
    mean = g.op("Unsqueeze", _masked_sum_ratio(g, masked, keep), g.const([2], dtype=np.int64))
    return g.op("Flatten", g.op("Concat", tops, mean, axis=2), axis=1)


def _masked_sum_ratio(g: Graph, masked: str, keep: str) -> str:
    """(1, C) mean over the kept cells."""
    axes = g.const([2, 3], dtype=np.int64)
    total = g.op("ReduceSum", masked, axes, keepdims=0)
    count = g.op("Max", g.op("ReduceSum", keep, axes, keepdims=0), g.const(1.0))
    return g.op("Div", total, count)
