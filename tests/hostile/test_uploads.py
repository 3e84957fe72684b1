"""Hostile files uploaded as images (reliability #1-#4, #30): each one gets a clear 4xx and leaves no
row, no media file and no temporary file behind. Bombs are refused from the header: fast, flat memory."""
from __future__ import annotations

import resource
import time
from collections.abc import Callable

import pytest

from tests.factories import image_bytes
from tests.hostile import files
from tests.hostile.conftest import Scene

UNSUPPORTED, CORRUPT, TOO_LARGE = {415}, {422}, {413}
# (case, file name, bytes (a function: built only when the case runs), declared type, allowed statuses)
CASES: list[tuple[str, str, Callable[[], bytes], str, set[int]]] = [
    ("html-as-png", "photo.png", lambda: files.HTML, "image/png", UNSUPPORTED),
    ("html-declared-html", "page.html", lambda: files.HTML, "text/html", UNSUPPORTED),
    ("svg-with-script", "logo.svg", lambda: files.SVG, "image/svg+xml", UNSUPPORTED),
    ("svg-named-png", "logo.png", lambda: files.SVG, "image/png", UNSUPPORTED),
    ("gif-html-polyglot", "anim.gif", files.gif_html_polyglot, "image/gif", UNSUPPORTED),
    ("psd", "layers.psd", lambda: files.PSD, "image/vnd.adobe.photoshop", UNSUPPORTED),
    ("fits", "sky.fits", lambda: files.FITS, "image/fits", UNSUPPORTED),
    ("eps", "vector.eps", lambda: files.EPS, "application/postscript", UNSUPPORTED),
    ("pdf", "report.pdf", files.pdf, "application/pdf", UNSUPPORTED),
    ("ico", "favicon.ico", files.ico, "image/x-icon", UNSUPPORTED),
    ("zip-slip-archive", "images.zip", files.zip_slip, "application/zip", UNSUPPORTED),
    ("empty", "empty.jpg", lambda: b"", "image/jpeg", UNSUPPORTED),
    ("png-signature-only", "sig.png", lambda: image_bytes()[:8], "image/png", UNSUPPORTED | CORRUPT),
    ("png-zero-pixels", "zero.png", files.png_zero_size, "image/png", UNSUPPORTED | CORRUPT),
    ("png-truncated-half", "half.png", lambda: files.truncated(image_bytes(300, 200, (9, 80, 200)), 0.5),
     "image/png", CORRUPT),
    ("jpeg-truncated", "cut.jpg", lambda: files.truncated(files.jpeg(300, 200), 0.4), "image/jpeg", CORRUPT),
    ("png-corrupt-deflate", "garbage.png", files.png_corrupt_data, "image/png", CORRUPT),
    ("png-bad-crc", "crc.png", files.png_bad_crc, "image/png", CORRUPT),
    ("png-bomb-50k", "bomb.png", files.png_bomb, "image/png", TOO_LARGE),
    ("jpeg-bomb-65k", "bomb.jpg", files.jpeg_bomb, "image/jpeg", TOO_LARGE),
    ("bmp-bomb-40k", "bomb.bmp", files.bmp_bomb, "image/bmp", TOO_LARGE),
    ("tiff-bomb-50k", "bomb.tif", files.tiff_bomb, "image/tiff", TOO_LARGE),
    ("webp-bomb-16k", "bomb.webp", files.webp_bomb, "image/webp", TOO_LARGE | CORRUPT),
    ("png-ztxt-bomb", "text.png", files.png_text_bomb, "image/png", TOO_LARGE | CORRUPT),
]


def upload(scene: Scene, *parts: tuple[str, bytes, str], **data: str):
    return scene.client("admin").post(scene.api("/images"), files=[("files", p) for p in parts], data=data)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("name", "data", "declared", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_file_is_refused_and_nothing_is_stored(scene: Scene, name: str, data: Callable[[], bytes],
                                                         declared: str, allowed: set[int]) -> None:
    body = data()
    before = scene.stored()
    peak_before, started = max_rss_mb(), time.monotonic()
    response = upload(scene, (name, body, declared))
    elapsed, grown = time.monotonic() - started, max_rss_mb() - peak_before
    assert response.status_code in allowed, response.text
    result = response.json()["results"][0]
    assert result["status"] == "refused" and result["status_code"] == response.status_code and result["reason"]
    scene.assert_nothing_stored(before)
    # Bounds, not timings: a bomb decoded for real would take seconds and gigabytes.
    assert grown < 50, f"peak memory grew by {grown:.0f} MB"
    assert elapsed < 20, f"took {elapsed:.1f} s"


def test_a_mixed_upload_stores_only_the_good_file(scene: Scene) -> None:
    """The refusals of a batch leave nothing of theirs; the good file goes in with its thumbnail."""
    before = scene.stored()
    response = upload(scene, ("ok.png", image_bytes(colour=(3, 1, 4)), "image/png"),
                      ("bomb.png", files.png_bomb(), "image/png"), ("x.svg", files.SVG, "image/svg+xml"))
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["stored", "refused", "refused"]
    after = scene.stored()
    assert after.rows["images"] == before.rows["images"] + 1
    assert len(after.media) == len(before.media) + 2 and after.tmp == before.tmp


@pytest.mark.parametrize("name", ["../../etc/passwd.png", "..\\..\\boot.ini.png", "/etc/shadow.png", "a\x00b.png",
                                  "\u202egnp.exe", "CON", "x" * 400 + ".png", "<img src=x onerror=alert(1)>.png",
                                  "{{7*7}}.png"])
def test_a_hostile_file_name_never_becomes_a_path(scene: Scene, name: str) -> None:
    """#7: the file is stored (it is a good image) under our content key, inside the media root."""
    response = upload(scene, (name, image_bytes(colour=(len(name) % 200, 7, 7)), "image/png"))
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "stored"
    media_root = scene.app.state.settings.media_dir.resolve()
    written = [p for p in media_root.rglob("*") if p.is_file()]
    assert len(written) == 2 and all(p.resolve().is_relative_to(media_root) for p in written)
    assert all(p.name[:-4].isalnum() for p in written), written  # <sha256>.png / .jpg, nothing of the name
    assert "/" not in result["file_name"] and "\\" not in result["file_name"] and "\x00" not in result["file_name"]
