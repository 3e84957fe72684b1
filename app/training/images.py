"""Decoding one encoded image into the tensor a recipe's graph reads."""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

MAX_PIXELS = 100_000_000  # the ingest refuses larger images already; this guards direct callers


def decode(data: bytes, *, height: int, width: int) -> np.ndarray:
    """(1, 3, height, width) float32 RGB 0..255.

    Full resolution, one decode: an image of another size is resized with Pillow's bilinear filter
    (aspect not kept) so defects keep roughly the scale the recipe was designed for. Greyscale,
    palette and alpha images become RGB (alpha dropped). ValueError for bytes that are not an image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"image of {im.width}x{im.height} pixels is larger than {MAX_PIXELS:,}")
                rgb = im.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1)[None].copy()
