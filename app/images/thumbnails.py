"""Thumbnails (JPEG, at most THUMB_SIDE px on the long side) and display-safe pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

THUMB_SIDE = 320
THUMB_QUALITY = 82


def make_thumbnail(path: Path, decoded: Image.Image) -> bytes:
    """JPEG bytes of the thumbnail. JPEGs are re-read in draft mode: libjpeg scales by 1/2..1/8 while
    decoding (a DCT-domain downscale, a fraction of the work of a full decode plus a resize); other
    formats are reduced from the decoded image."""
    if decoded.format == "JPEG":
        with Image.open(path, formats=["JPEG"]) as draft:
            draft.draft("RGB", _fit(draft.size))
            small = _rgb(draft)
            small.load()
    else:
        small = _rgb(decoded)
    target = _fit(small.size)
    if small.size != target:
        small = small.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


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
