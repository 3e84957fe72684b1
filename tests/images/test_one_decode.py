"""Ingest decodes each image once: a JPEG in libjpeg's draft mode, at the smallest size that serves the
thumbnail and the near-duplicate signature, and that one decode still refuses a damaged file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import JpegImagePlugin
from scipy import ndimage

from app.consistency import duplicates
from app.core.errors import Invalid
from app.images import ingest, thumbnails
from app.images.validation import Limits

LIMITS = Limits(max_bytes=20_000_000, max_pixels=60_000_000)


def jpeg(tmp_path: Path, size: tuple[int, int], name: str = "part.jpg") -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / name
    PILImage.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


@pytest.mark.parametrize(("size", "decoded"), [((640, 480), (320, 240)), ((4000, 3000), (500, 375)),
                                               ((300, 200), (300, 200))])
def test_a_jpeg_is_decoded_once_at_the_size_its_uses_need(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           size: tuple[int, int], decoded: tuple[int, int]) -> None:
    loads: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def counted(self: JpegImagePlugin.JpegImageFile) -> object:
        if self.tile:  # a load that decodes (later calls on a loaded image do nothing)
            loads.append(self.size)
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", counted)
    prepared = ingest.prepare(jpeg(tmp_path, size), file_name="part.jpg", limits=LIMITS)
    assert loads == [decoded]  # one decode, DCT-scaled to just what is needed
    assert (prepared.width, prepared.height) == size  # the image's own size, not the decoded one
    thumb = PILImage.open(io.BytesIO(prepared.thumbnail))
    assert max(thumb.size) == min(thumbnails.THUMB_SIDE, max(size))
    assert prepared.signature is not None and len(bytes.fromhex(prepared.signature)) == duplicates.SIGNATURE_BYTES


def test_the_draft_decode_still_refuses_a_truncated_jpeg(tmp_path: Path) -> None:
    path = jpeg(tmp_path, (640, 480))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(Invalid, match="truncated or corrupt"):
        ingest.prepare(path, file_name="cut.jpg", limits=LIMITS)


def test_the_decode_covers_the_signature_working_copy() -> None:
    assert thumbnails.SIGNATURE_WORK == duplicates.WORK_SIZE
    assert thumbnails.decode_size((4000, 100)) == (320, 100)  # a long strip keeps its height for the signature
    assert thumbnails.decode_size((100, 80)) == (100, 80)


def test_the_signature_shift_equals_scipy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        a = rng.random((120, 160)) * 255
        dy, dx = rng.uniform(-30, 30, 2)
        expected = ndimage.shift(a, (dy, dx), order=1, mode="nearest")
        assert np.abs(duplicates.shift_linear(a, dy, dx) - expected).max() < 1e-9
