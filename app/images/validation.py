"""What a file must be before it becomes an Image: an allowlisted raster format that decodes fully,
within the byte and pixel limits. The format is taken from the decoded bytes, never from the file's
name or declared type (reliability #1-#4).

Decompression bombs are refused from the header alone: the pixel count is checked after
`PIL.Image.open` (which reads only the header) and before any pixel is decoded, and Pillow's own
DecompressionBombWarning is turned into a refusal, so memory stays flat.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.core.errors import ConcordError, Invalid, TooLarge, UnsupportedMedia

# Pillow format name -> (MIME type we serve it as, file extension we store it under).
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tif"),
    "WEBP": ("image/webp", "webp"),
}
# Every extension a file of the format may carry (the first is the one Concord gives it)
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": ("jpg", "jpeg", "jpe", "jfif"),
    "PNG": ("png",),
    "BMP": ("bmp", "dib"),
    "TIFF": ("tif", "tiff"),
    "WEBP": ("webp",),
}
ALLOWED = tuple(FORMATS)
ALLOWED_TEXT = "JPEG, PNG, BMP, TIFF or WebP"


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


def mime_type(fmt: str) -> str:
    return FORMATS[fmt][0]


def extension(fmt: str) -> str:
    return FORMATS[fmt][1]


def open_verified(path: Path, *, size: int, limits: Limits,
                  reduce_to: Callable[[tuple[int, int]], tuple[int, int]] | None = None
                  ) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image at `path` (the caller closes it) and the size its header declares.

    `reduce_to(declared size)`: a JPEG is decoded in draft mode, libjpeg scaling it by 1/2..1/8 in the
    DCT domain to the smallest size that still covers the size it returns (a thumbnail, a signature).
    Every byte of the file is still entropy-decoded, so a truncated or corrupt file is refused exactly
    as by a full decode; only the inverse DCT, and the memory, shrink. Other formats are decoded whole.

    Raises TooLarge (413) over the byte or pixel limit, UnsupportedMedia (415) for anything that is
    not one of the allowlisted formats (HTML, SVG, PSD, FITS, empty files...), Invalid (422) for a
    truncated or corrupt file of an allowed format.
    """
    if size > limits.max_bytes:
        raise TooLarge(f"the file is {size:,} bytes; the limit is {limits.max_bytes:,}", field="files")
    if size == 0:
        raise UnsupportedMedia("the file is empty", field="files")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=ALLOWED)
        except UnidentifiedImageError:
            raise UnsupportedMedia(f"not a {ALLOWED_TEXT} image", field="files") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(None, limits) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise Invalid(f"the image header is corrupt ({_reason(exc)})", field="files") from None
        declared = image.size
        try:
            _check_header(image, limits)
            if reduce_to is not None and image.format == "JPEG":
                image.draft("RGB", reduce_to(declared))
            image.load()
        except ConcordError:
            image.close()
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            image.close()
            raise _too_many_pixels(image.size, limits) from None
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
            image.close()
            raise Invalid(f"the image is truncated or corrupt ({_reason(exc)})", field="files") from None
    return image, declared


def _check_header(image: Image.Image, limits: Limits) -> None:
    if image.format not in FORMATS:  # cannot happen with formats=ALLOWED; kept as the invariant
        raise UnsupportedMedia(f"not a {ALLOWED_TEXT} image", field="files")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise Invalid("the image has no pixels", field="files")
    if width * height > limits.max_pixels:
        raise _too_many_pixels(image.size, limits)


def _too_many_pixels(size: tuple[int, int] | None, limits: Limits) -> TooLarge:
    what = f"{size[0]:,} x {size[1]:,} pixels" if size else "too many pixels"
    return TooLarge(f"the image declares {what}; the limit is {limits.max_pixels:,} pixels", field="files")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:120]
