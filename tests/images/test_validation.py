"""Which files become images (reliability #1-#4), decided from the decoded bytes alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import Invalid, TooLarge, UnsupportedMedia
from app.images import ingest, validation
from app.images.validation import Limits
from tests.factories import image_bytes
from tests.images import files

LIMITS = Limits(max_bytes=5_000_000, max_pixels=4_000_000)


def write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("JPEG", "RGB", "JPEG"),
        ("PNG", "RGBA", "PNG"),
        ("BMP", "RGB", "BMP"),
        ("TIFF", "I;16", "TIFF"),
        ("WEBP", "RGB", "WEBP"),
        ("PNG", "P", "PNG"),
        ("JPEG", "L", "JPEG"),
    ],
)
def test_allowlisted_formats_are_verified_and_thumbnailed(tmp_path: Path, fmt: str, mode: str, expected: str) -> None:
    path = write(tmp_path, files.encoded(fmt, mode))
    prepared = ingest.prepare(path, file_name="part.img", limits=LIMITS)
    assert (prepared.format, prepared.width, prepared.height) == (expected, 40, 30)
    assert prepared.thumbnail.startswith(b"\xff\xd8")  # a JPEG thumbnail whatever the source
    assert prepared.signature is not None and len(bytes.fromhex(prepared.signature)) == 769


def test_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    prepared = ingest.prepare(write(tmp_path, files.png_html_polyglot(), "x.html"), file_name="x.html", limits=LIMITS)
    assert prepared.format == "PNG"
    assert validation.mime_type(prepared.format) == "image/png"
    assert validation.extension(prepared.format) == "png"


@pytest.mark.parametrize(
    "data",
    [files.HTML, files.SVG, files.PSD, files.FITS, files.EPS, b"GIF89a" + b"\x00" * 40, b"%PDF-1.7\n", b"\x00" * 10],
)
def test_anything_but_the_allowlist_is_unsupported(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        ingest.prepare(write(tmp_path, data), file_name="x.png", limits=LIMITS)


def test_gif_is_refused_even_though_pillow_reads_it(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia):
        ingest.prepare(write(tmp_path, files.encoded("GIF", "P")), file_name="x.gif", limits=LIMITS)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia, match="empty"):
        ingest.prepare(write(tmp_path, b""), file_name="x.jpg", limits=LIMITS)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_images_are_invalid(tmp_path: Path, cut: float) -> None:
    data = files.jpeg(400, 300)
    with pytest.raises((Invalid, UnsupportedMedia)):
        ingest.prepare(write(tmp_path, data[: int(len(data) * cut)]), file_name="cut.jpg", limits=LIMITS)


def test_corrupt_png_data_is_invalid(tmp_path: Path) -> None:
    data = bytearray(image_bytes(200, 200, (1, 2, 3)))
    data[60:90] = b"\xff" * 30  # inside IDAT
    with pytest.raises(Invalid):
        ingest.prepare(write(tmp_path, bytes(data)), file_name="bad.png", limits=LIMITS)


def test_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match="3,000 x 2,000"):
        ingest.prepare(write(tmp_path, files.png_bomb(3000, 2000)), file_name="big.png", limits=LIMITS)


@pytest.mark.parametrize("size", [(50_000, 50_000), (12_000, 12_000)])  # past Pillow's own limits, and between
def test_decompression_bombs_are_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    roomy = Limits(max_bytes=LIMITS.max_bytes, max_pixels=10**10)  # even with our limit out of the way
    with pytest.raises(TooLarge):
        ingest.prepare(write(tmp_path, files.png_bomb(*size)), file_name="bomb.png", limits=roomy)


def test_byte_limit(tmp_path: Path) -> None:
    data = files.jpeg(300, 200)
    with pytest.raises(TooLarge):
        ingest.prepare(
            write(tmp_path, data), file_name="x.jpg", limits=Limits(max_bytes=len(data) - 1, max_pixels=10**8)
        )


BOMB_PROBE = """
import json, resource, sys, time
from pathlib import Path
from app.images import ingest
from app.images.validation import Limits
from app.core.errors import TooLarge
path = Path(sys.argv[1])
ingest.prepare(Path(sys.argv[2]), file_name="warm.png", limits=Limits(10**7, 10**8))  # warm up imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    ingest.prepare(path, file_name="bomb.png", limits=Limits(10**7, 60_000_000))
    outcome = "stored"
except TooLarge:
    outcome = "refused"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "rss_growth_kb": after - before, "seconds": time.perf_counter() - start}))
"""


def test_a_bomb_is_refused_with_flat_memory(tmp_path: Path) -> None:
    """#4: a tiny PNG declaring 50k x 50k pixels; measured in a fresh process (peak RSS only grows)."""
    bomb = write(tmp_path, files.png_bomb(), "bomb.png")
    warm = write(tmp_path, image_bytes(64, 48), "warm.png")
    out = subprocess.run(
        [sys.executable, "-c", BOMB_PROBE, str(bomb), str(warm)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "refused"
    assert result["rss_growth_kb"] < 50 * 1024


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../x.jpg", "x.jpg"),
        ("..\\..\\evil.png", "evil.png"),
        ("/etc/passwd", "passwd"),
        ("a\x00b.jpg", "ab.jpg"),
        ("gpj.\u202eexe.jpg", "gpj.exe.jpg"),
        ("x" * 300 + ".jpg", "x" * 255),
        ("CON", "CON"),
        ("", "unnamed"),
        (".hidden.png", "hidden.png"),
    ],
)
def test_display_names_lose_paths_controls_and_bidi(name: str, shown: str) -> None:
    assert ingest.display_name(name) == shown
