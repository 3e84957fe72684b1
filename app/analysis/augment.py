"""Targeted augmentation: random but reproducible transforms of an image and its boxes — pure numpy/scipy.

A `Recipe` is drawn from a seeded generator and applied in a fixed order: flips, a small rotation
about the image centre (same size out, borders filled by the nearest edge pixel), contrast and
brightness (out = (x - 128) * contrast + 128 + brightness), then Gaussian noise. Boxes
({x, y, w, h, class_id}, pixels, x/y top-left) follow the geometry: a rotated box becomes the
axis-aligned box around its four rotated corners, clipped to the image; a box left with less than
MIN_KEPT of its area inside the image, or under one pixel wide or high, is dropped.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

MAX_ROTATION_DEG = 10.0
CONTRAST_RANGE = (0.8, 1.2)
BRIGHTNESS_RANGE = (-20.0, 20.0)
NOISE_RANGE = (0.0, 6.0)  # Gaussian sigma, grey levels
MIN_KEPT = 0.25


@dataclass(frozen=True)
class Recipe:
    hflip: bool = False
    vflip: bool = False
    rotate: float = 0.0  # degrees, counter-clockwise as seen on screen
    contrast: float = 1.0
    brightness: float = 0.0
    noise: float = 0.0
    seed: int = 0  # of the noise

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        parts = [p for p, on in (("h-flip", self.hflip), ("v-flip", self.vflip)) if on]
        if abs(self.rotate) >= 0.05:
            parts.append(f"rotate {self.rotate:+.1f}°")
        if abs(self.contrast - 1) >= 0.005 or abs(self.brightness) >= 0.5:
            parts.append(f"contrast ×{self.contrast:.2f}, brightness {self.brightness:+.0f}")
        if self.noise >= 0.05:
            parts.append(f"noise σ {self.noise:.1f}")
        return ", ".join(parts) or "identity"


def draw_recipes(rng: np.random.Generator, count: int, *, allow_vflip: bool = True) -> list[Recipe]:
    """`count` recipes; vertical flips only where the part's orientation does not matter."""
    out = []
    for _ in range(count):
        out.append(Recipe(
            hflip=bool(rng.random() < 0.5),
            vflip=bool(allow_vflip and rng.random() < 0.3),
            rotate=float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)),
            contrast=float(rng.uniform(*CONTRAST_RANGE)),
            brightness=float(rng.uniform(*BRIGHTNESS_RANGE)),
            noise=float(rng.uniform(*NOISE_RANGE)),
            seed=int(rng.integers(0, 2**31 - 1)),
        ))
    return out


def _rotation(deg: float) -> np.ndarray:
    """Forward map in (x, y) image coordinates (y down): a counter-clockwise turn on screen."""
    t = math.radians(deg)
    return np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])


def transform_pixels(pixels: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The augmented image, same shape, uint8. `pixels` is (H, W) or (H, W, C)."""
    out = np.asarray(pixels, dtype=np.float64)
    if recipe.hflip:
        out = out[:, ::-1]
    if recipe.vflip:
        out = out[::-1]
    if abs(recipe.rotate) >= 0.05:
        h, w = out.shape[:2]
        forward = _rotation(recipe.rotate)
        inverse_xy = np.linalg.inv(forward)
        inverse = inverse_xy[::-1, ::-1]  # (row, col) order for ndimage
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        offset = centre - inverse @ centre
        channels = [out] if out.ndim == 2 else [out[..., c] for c in range(out.shape[2])]
        turned = [ndimage.affine_transform(ch, inverse, offset=offset, order=1, mode="nearest") for ch in channels]
        out = turned[0] if out.ndim == 2 else np.stack(turned, axis=-1)
    out = (out - 128.0) * recipe.contrast + 128.0 + recipe.brightness
    if recipe.noise > 0:
        out = out + np.random.default_rng(recipe.seed).normal(0.0, recipe.noise, size=out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def transform_boxes(boxes: list[dict[str, Any]], width: int, height: int, recipe: Recipe) -> list[dict[str, Any]]:
    """The boxes after the recipe's geometry (colour changes leave them alone)."""
    out = []
    for box in boxes:
        x0, y0 = float(box["x"]), float(box["y"])
        x1, y1 = x0 + float(box["w"]), y0 + float(box["h"])
        if recipe.hflip:
            x0, x1 = width - x1, width - x0
        if recipe.vflip:
            y0, y1 = height - y1, height - y0
        if abs(recipe.rotate) >= 0.05:
            corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
            centre = np.array([width / 2, height / 2])
            moved = (corners - centre) @ _rotation(recipe.rotate).T + centre
            x0, y0 = moved.min(axis=0)
            x1, y1 = moved.max(axis=0)
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
        kept = max(cx1 - cx0, 0.0) * max(cy1 - cy0, 0.0)
        if cx1 - cx0 < 1 or cy1 - cy0 < 1 or kept < MIN_KEPT * area:
            continue
        out.append({**box, "x": round(float(cx0), 2), "y": round(float(cy0), 2), "w": round(float(cx1 - cx0), 2),
                    "h": round(float(cy1 - cy0), 2)})
    return out
