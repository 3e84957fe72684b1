"""Image statistics and the standardized Wasserstein drift distance."""
from __future__ import annotations

import numpy as np
import pytest

from app.analysis import drift


def test_features_of_flat_and_textured_images() -> None:
    flat = np.full((40, 50, 3), 100, dtype=np.uint8)
    f = drift.image_features(flat)
    assert f["brightness"] == pytest.approx(100.0)
    assert f["contrast"] == pytest.approx(0.0)
    assert f["sharpness"] == pytest.approx(0.0)
    assert f["red"] == pytest.approx(1 / 3)
    rng = np.random.default_rng(0)
    noisy = np.clip(flat + rng.normal(0, 10, flat.shape), 0, 255)
    assert drift.image_features(noisy)["sharpness"] > 2.0
    warm = flat.copy()
    warm[..., 0] = 130
    assert drift.image_features(warm)["red"] > 0.38
    with pytest.raises(ValueError):
        drift.image_features(np.zeros((10, 10)))


def test_w1_of_a_shift_is_the_shift_over_the_reference_sd() -> None:
    spec = drift.SPEC["brightness"]  # bins of width 4
    ref = np.zeros(spec.bins)
    ref[[20, 22]] = 50  # two bins 8 apart: SD 4
    moved = np.roll(ref, 3)  # 12 grey levels to the right
    assert drift.standardized_w1(moved, ref, spec)[0] == pytest.approx(12 / 4)
    assert drift.standardized_w1(ref, ref, spec)[0] == pytest.approx(0.0)


def test_colour_uses_its_fixed_scale() -> None:
    spec = drift.SPEC["red"]
    ref = drift.histogram(np.full(50, 0.33), spec)
    shifted = drift.histogram(np.full(50, 0.36), spec)
    assert drift.standardized_w1(shifted, ref, spec)[0] == pytest.approx(0.03 / drift.CHROMA_SCALE, abs=0.13)


def group(rng: np.random.Generator, n: int, brightness: float) -> dict[str, np.ndarray]:
    values = {"brightness": rng.normal(brightness, 6, n), "contrast": rng.normal(58, 4, n),
              "sharpness": rng.normal(2.5, 0.06, n), "red": rng.normal(0.333, 0.01, n),
              "green": rng.normal(0.334, 0.002, n), "blue": rng.normal(0.333, 0.01, n)}
    return drift.histograms(values)


def test_compare_flags_a_dark_group_and_not_a_sample_of_the_reference() -> None:
    rng = np.random.default_rng(3)
    reference = group(rng, 300, 70)
    assert not drift.compare(group(rng, 60, 70), reference).flagged
    dark = drift.compare(group(rng, 60, 45), reference)
    assert dark.flagged and dark.feature == "brightness" and dark.distance > 3
    small = drift.compare(group(rng, 5, 45), reference)
    assert not small.flagged and not small.judged


def test_noise_floor_shrinks_with_size() -> None:
    rng = np.random.default_rng(0)
    reference = group(rng, 400, 70)["brightness"]
    spec = drift.SPEC["brightness"]
    assert drift.noise_floor(reference, 10, spec, rng) > drift.noise_floor(reference, 200, spec, rng)


def test_explained_by_the_most_drifted_overlapping_slice() -> None:
    l3n, l3, night, cam = "L3/night", "L3", "night", "cam-a/night"
    clean_rest = {(l3, l3n): False, (night, l3n): False, (cam, l3n): False, (cam, l3): None}
    order = [l3n, l3, night, cam]  # most drifted first
    assert drift.explained_by(order, lambda s, t: clean_rest.get((s, t), True)) == {l3: l3n, night: l3n, cam: l3n}
    # a slice whose other images are drifted too stands on its own
    assert drift.explained_by(order, lambda s, t: True) == {}
    # only unexplained slices explain others
    assert drift.explained_by([l3n, l3, night], lambda s, t: {(l3, l3n): False}.get((s, t), t != l3)) == {l3: l3n}
