"""Crafted files for the upload cases of reliability #1-#7: polyglots, bombs, impostors."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage

from tests.factories import image_bytes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header declares width x height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def png_html_polyglot() -> bytes:
    """A real PNG with an HTML document after its end (a browser sniffing it could run the script)."""
    return image_bytes(32, 24) + b"<html><body><script>alert(document.cookie)</script></body></html>"


def jpeg(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (90, 100, 110)) -> bytes:
    return image_bytes(width, height, colour, fmt="JPEG")


def encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new(mode, size, 128 if mode in ("L", "I;16") else (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
)
# Headers of formats Pillow can read but we never accept.
PSD = b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03" + struct.pack(">II", 10, 10) + b"\x00\x08\x00\x03" + b"\x00" * 64
FITS = (
    b"SIMPLE  =                    T"
    + b" " * 50
    + b"BITPIX  =                    8"
    + b" " * 50
    + b"NAXIS   =                    0"
    + b" " * 50
    + b"END"
    + b" " * 77
).ljust(2880, b" ")
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
