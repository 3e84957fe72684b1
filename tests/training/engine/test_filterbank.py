"""The filter bank's graph against scipy's Gaussian derivatives, and what its maps respond to."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from app.training import filterbank
from app.training.onnxgraph import Graph, session, tensor

SIZE = 64


def maps_of(image: np.ndarray, sigma: float) -> np.ndarray:
    """(4, h, w): the graph's four maps (dark blob, bright blob, bright ridge, dark ridge) of a grey image."""
    g = Graph("t_")
    maps = filterbank._hessian_maps(g, "x", 1, sigma)
    out = g.op("Concat", *maps, axis=1)
    model = g.model([tensor("x", [1, 1, SIZE, SIZE])], [tensor(out, [1, 4, SIZE, SIZE])], name="maps")
    return session(model.SerializeToString()).run(None, {"x": image[None, None].astype(np.float32)})[0][0]


def scipy_maps(image: np.ndarray, sigma: float) -> np.ndarray:
    """The same maps from scipy.ndimage's separable filtering with the recipe's kernels (edges repeated)."""
    kernels = filterbank.gaussian_kernels(sigma)

    def d(order: tuple[int, int]) -> np.ndarray:
        rows = ndimage.correlate1d(image.astype(np.float64), kernels[order[0]], axis=0, mode="nearest")
        return ndimage.correlate1d(rows, kernels[order[1]], axis=1, mode="nearest")

    dyy, dxx, dxy = d((2, 0)) * sigma**2, d((0, 2)) * sigma**2, d((1, 1)) * sigma**2
    gradient = np.hypot(d((0, 1)), d((1, 0))) * sigma
    half_trace, radius = (dxx + dyy) / 2, np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    low, high = half_trace - radius, half_trace + radius
    return np.stack([np.maximum(low, 0), np.maximum(-high, 0), np.maximum(-low - gradient, 0),
                     np.maximum(high - gradient, 0)])


def scene(kind: str) -> np.ndarray:
    y, x = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    flat = np.full((SIZE, SIZE), 0.8)
    if kind == "dark spot":
        return flat - 0.3 * np.exp(-((x - 30) ** 2 + (y - 33) ** 2) / (2 * 1.5**2))
    if kind == "bright line":
        return flat + 0.2 * np.exp(-((x - 0.4 * y - 20) ** 2) / (2 * 0.8**2))
    if kind == "edge":
        return np.where(x < 32, 0.3, 0.8)
    return flat + np.random.default_rng(0).normal(0, 0.02, (SIZE, SIZE))


def test_graph_equals_scipy_gaussian_derivatives() -> None:
    for kind in ("dark spot", "bright line", "edge", "noise"):
        for sigma in (1.0, 2.0):
            found, expected = maps_of(scene(kind), sigma), scipy_maps(scene(kind), sigma)
            scale = max(expected.max(), 1e-3)
            np.testing.assert_allclose(found, expected, atol=0.01 * scale, err_msg=f"{kind}, sigma {sigma}")


def test_each_map_answers_its_own_shape() -> None:
    spot, line, edge = (maps_of(scene(k), 1.0).reshape(4, -1).max(axis=1) for k in ("dark spot", "bright line", "edge"))
    dark_blob, bright_blob, bright_ridge, dark_ridge = range(4)
    assert spot[dark_blob] > 5 * max(spot[bright_blob], spot[bright_ridge])
    assert line[bright_ridge] > 5 * max(line[dark_blob], line[dark_ridge], line[bright_blob])
    # Per unit of contrast (line 0.2, edge 0.5, spot 0.3), a step edge answers the ridge maps at under
    # a third of a thin line (a plain ridge filter: about two thirds), and the blob maps hardly at all.
    assert max(edge[bright_ridge], edge[dark_ridge]) / 0.5 < 0.3 * line[bright_ridge] / 0.2
    assert max(edge[dark_blob], edge[bright_blob]) / 0.5 < 0.05 * spot[dark_blob] / 0.3


def test_kernels_are_scipys_gaussian_derivatives_with_a_flat_image_giving_zero() -> None:
    for sigma in (1.0, 2.0, 3.5):
        kernels = filterbank.gaussian_kernels(sigma)
        impulse = np.zeros(kernels[0].size)
        impulse[impulse.size // 2] = 1.0
        for order, kernel in enumerate(kernels):
            reference = ndimage.gaussian_filter1d(impulse, sigma, order=order, mode="constant", truncate=3.0)
            # scipy filters (convolves): its impulse response is the kernel mirrored; ours correlates.
            np.testing.assert_allclose(kernel, reference[::-1], atol=0.05 * np.abs(reference).max())
        assert abs(kernels[0].sum() - 1) < 1e-12 and abs(kernels[1].sum()) < 1e-12 and abs(kernels[2].sum()) < 1e-12
