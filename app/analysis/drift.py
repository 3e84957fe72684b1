"""Image statistics and drift between groups of images (an upload batch, or any slice) — pure numpy.

Per image, from its thumbnail reduced to fit WORK_SIZE x WORK_SIZE (so thumbnails of any size
compare): brightness = mean luma (Rec. 601, 0-255), contrast = RMS contrast = standard deviation
of luma, sharpness = log10(1 + variance of the 4-neighbour Laplacian of luma), and colour as
chromaticity red/green/blue = channel mean / sum of the three means.

A group is summarised by one histogram per feature on fixed bins (FEATURES), so groups can be
stored, merged and charted. The distance of a group from the reference is, per feature, the
**standardized Wasserstein-1 distance** between the two histograms:

    d_f = W1(hist_group, hist_reference) / scale_f,  W1 = sum_bins |CDF_group - CDF_reference| * bin width

with scale_f = the reference's standard deviation of that feature (so d_f is "how many reference
standard deviations the distribution moved", whatever the unit), except for the chromaticities,
whose scale is a fixed CHROMA_SCALE: one camera's tint makes the per-image spread of chromaticity
tiny, and a spread-relative distance would call every camera change drift.

A group is **flagged** when some feature has d_f >= THRESHOLD (0.75) and d_f is above the noise
floor: the 99th percentile of d_f over BOOTSTRAP samples of the same size drawn from the reference
(small groups get no flag from sampling noise alone). Groups under MIN_IMAGES are not judged.
Calibration (tests/analysis, the shared workload at 400 images): clean line/shift/camera slices
measure 0.0-0.6 against a clean reference batch and 0.0-0.4 against the whole project; the darkened
L3/night slice measures 2.3-3.1 and 1.1-1.3.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WORK_SIZE = 128
THRESHOLD = 0.75
MIN_IMAGES = 10
BOOTSTRAP = 200
NOISE_QUANTILE = 0.99
CHROMA_SCALE = 0.04  # a 0.03 shift of a chromaticity (3 points of the colour share) reaches the threshold
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    label: str
    lo: float
    hi: float
    bins: int
    fixed_scale: float | None = None  # None: the reference's standard deviation

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.bins + 1)

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("brightness", "mean brightness (0-255)", 0.0, 256.0, 64),
    FeatureSpec("contrast", "RMS contrast (luma std)", 0.0, 128.0, 64),
    FeatureSpec("sharpness", "sharpness (log10 Laplacian variance)", 0.0, 5.0, 50),
    FeatureSpec("red", "red share of colour", 0.2, 0.5, 60, CHROMA_SCALE),
    FeatureSpec("green", "green share of colour", 0.2, 0.5, 60, CHROMA_SCALE),
    FeatureSpec("blue", "blue share of colour", 0.2, 0.5, 60, CHROMA_SCALE),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
SPEC = {f.name: f for f in FEATURES}


def image_features(rgb: np.ndarray) -> dict[str, float]:
    """The statistics of one image given as an (H, W, 3) array (uint8 or float 0-255)."""
    pixels = np.asarray(rgb, dtype=np.float64)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 3:
        raise ValueError("expected an RGB image of at least 3x3 pixels")
    luma = pixels @ LUMA
    lap = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]) - 4.0 * luma[1:-1, 1:-1]
    means = pixels.reshape(-1, 3).mean(axis=0)
    total = float(means.sum()) or 1.0
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "sharpness": float(np.log10(1.0 + lap.var())),
        "red": float(means[0] / total) if means.sum() else 1 / 3,
        "green": float(means[1] / total) if means.sum() else 1 / 3,
        "blue": float(means[2] / total) if means.sum() else 1 / 3,
    }


def _bin_index(values: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    idx = np.floor((np.asarray(values, dtype=float) - spec.lo) / spec.width).astype(np.int64)
    return np.clip(idx, 0, spec.bins - 1)  # out-of-range values land in the end bins


def histogram(values: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    return np.bincount(_bin_index(values, spec), minlength=spec.bins).astype(np.int64)


def histograms(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One count histogram per feature of a group given as feature -> per-image values."""
    return {f.name: histogram(values[f.name], f) for f in FEATURES}


def _scale(reference_hist: np.ndarray, spec: FeatureSpec) -> float:
    if spec.fixed_scale is not None:
        return spec.fixed_scale
    centres = spec.edges[:-1] + spec.width / 2
    weights = reference_hist / max(reference_hist.sum(), 1)
    mean = float((weights * centres).sum())
    std = float(np.sqrt((weights * (centres - mean) ** 2).sum()))
    return max(std, spec.width)  # never below one bin: a constant reference stays comparable


def standardized_w1(sample_hist: np.ndarray, reference_hist: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """d = W1 / scale for one histogram (K,) or a stack of them (B, K) against one reference (K,)."""
    sample = np.atleast_2d(np.asarray(sample_hist, dtype=float))
    ref = np.asarray(reference_hist, dtype=float)
    cdf_s = np.cumsum(sample / np.maximum(sample.sum(axis=1, keepdims=True), 1e-12), axis=1)
    cdf_r = np.cumsum(ref / max(ref.sum(), 1e-12))
    w1 = np.abs(cdf_s - cdf_r).sum(axis=1) * spec.width
    out: np.ndarray = w1 / _scale(ref, spec)
    return out if np.ndim(sample_hist) == 2 else out[:1]


def noise_floor(reference_hist: np.ndarray, n: int, spec: FeatureSpec, rng: np.random.Generator) -> float:
    """The NOISE_QUANTILE of d for groups of `n` images drawn (with replacement) from the reference."""
    ref = np.asarray(reference_hist, dtype=np.int64)
    total = int(ref.sum())
    if total == 0 or n <= 0:
        return 0.0
    draws = rng.multinomial(n, ref / total, size=BOOTSTRAP)
    return float(np.quantile(standardized_w1(draws, ref, spec), NOISE_QUANTILE))


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    distance: float
    noise_floor: float
    mean: float  # of the group (from its histogram)
    reference_mean: float

    @property
    def significant(self) -> bool:
        return self.distance >= THRESHOLD and self.distance > self.noise_floor


@dataclass(frozen=True)
class DriftResult:
    n: int
    n_reference: int
    distance: float  # the largest d_f
    feature: str | None  # the feature with the largest d_f
    flagged: bool
    features: list[FeatureDrift] = field(default_factory=list)
    judged: bool = True  # False: fewer than MIN_IMAGES (or an empty reference)

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "n_reference": self.n_reference, "distance": round(self.distance, 4),
                "feature": self.feature, "flagged": self.flagged, "judged": self.judged,
                "features": [{"feature": f.feature, "distance": round(f.distance, 4),
                              "noise_floor": round(f.noise_floor, 4), "mean": round(f.mean, 4),
                              "reference_mean": round(f.reference_mean, 4), "significant": f.significant}
                             for f in self.features]}


def _hist_mean(hist: np.ndarray, spec: FeatureSpec) -> float:
    total = hist.sum()
    centres = spec.edges[:-1] + spec.width / 2
    return float((hist * centres).sum() / total) if total else float("nan")


def compare(group: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], *,
            rng: np.random.Generator | None = None, min_images: int = MIN_IMAGES) -> DriftResult:
    """Drift of a group from the reference, both given as feature -> count histogram (see histograms)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = int(np.asarray(group[FEATURES[0].name]).sum())
    n_ref = int(np.asarray(reference[FEATURES[0].name]).sum())
    if n < min_images or n_ref < min_images:
        return DriftResult(n=n, n_reference=n_ref, distance=0.0, feature=None, flagged=False, judged=False)
    drifts = []
    for spec in FEATURES:
        g, r = np.asarray(group[spec.name]), np.asarray(reference[spec.name])
        drifts.append(FeatureDrift(spec.name, float(standardized_w1(g, r, spec)[0]), noise_floor(r, n, spec, rng),
                                   _hist_mean(g, spec), _hist_mean(r, spec)))
    worst = max(drifts, key=lambda d: d.distance)
    return DriftResult(n=n, n_reference=n_ref, distance=worst.distance, feature=worst.feature,
                       flagged=any(d.significant for d in drifts), features=drifts)


def explained_by(order: Sequence[Any], rest_flagged: Callable[[Any, Any], bool | None]) -> dict[Any, Any]:
    """Which flagged group's drift is another's: slice -> the slice that explains it.

    `order`: the flagged slices, most drifted first. `rest_flagged(s, t)`: whether s without t's
    images is still flagged (None when they share no image). A slice is explained by the first more
    drifted, unexplained slice t it overlaps such that s minus t is clean: "line L3" and "camera
    cam-a, shift night" are explained by "line L3, shift night" when only that slice's images moved.
    """
    out: dict[Any, Any] = {}
    for i, s in enumerate(order):
        for t in order[:i]:
            if t not in out and rest_flagged(s, t) is False:
                out[s] = t
                break
    return out
