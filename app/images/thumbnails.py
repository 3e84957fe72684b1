"""Thumbnails (JPEG, at most THUMB_SIDE px on the long side) and display-safe pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

THUMB_SIDE = 320
THUMB_QUALITY = 82
SIGNATURE_WORK = (160, 120)  # = app.consistency.duplicates.WORK_SIZE (tests/images check they agree)


def make_thumbnail(decoded: Image.Image) -> bytes:
    """JPEG bytes of the thumbnail of a decoded image (see `decode_size`: a JPEG comes already
    reduced by libjpeg's draft mode, so a small resize is left, if any)."""
    small = _rgb(decoded)
    target = _fit(small.size)
    if small.size != target:
        small = small.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


def decode_size(declared: tuple[int, int]) -> tuple[int, int]:
    """The smallest decoded size that serves the thumbnail (THUMB_SIDE on the long side) and the
    near-duplicate signature (its SIGNATURE_WORK working copy): what a JPEG is draft-decoded to, once,
    at ingest."""
    fit = _fit(declared)
    return (min(declared[0], max(fit[0], SIGNATURE_WORK[0])), min(declared[1], max(fit[1], SIGNATURE_WORK[1])))


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, THUMB_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB for any mode: transparency on white, 16-bit and float scaled to their range."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(image, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        scaled = np.zeros_like(a) if hi <= lo else (a - lo) * (255.0 / (hi - lo))
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    return image.convert("RGB")


def display_copy(image: Image.Image) -> Image.Image:
    """An 8-bit RGB view of a decoded image (for signatures of unusual modes)."""
    return _rgb(image)
