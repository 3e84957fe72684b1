"""Crafted hostile files beyond tests/images/files.py (which this module re-exports): bombs in every
allowlisted format, text-chunk bombs, corrupt and impostor files, archives."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

from tests.factories import image_bytes
from tests.images.files import EPS, FITS, HTML, PSD, SVG, jpeg, png_bomb, png_chunk, png_html_polyglot

__all__ = ["EPS", "FITS", "HTML", "PSD", "SVG", "jpeg", "png_bomb", "png_html_polyglot"]


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A real small JPEG whose start-of-frame marker is patched to declare width x height."""
    data = bytearray(jpeg(16, 16))
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            struct.pack_into(">HH", data, at + 5, height, width)  # FFC0, length(2), precision(1), H, W
            return bytes(data)
    raise AssertionError("no SOF marker")


def bmp_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A BMP header declaring width x height 24-bit pixels, followed by almost no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    pixels = b"\x00" * 64
    header = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def tiff_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A little-endian TIFF whose IFD declares width x height 8-bit grey pixels in one tiny strip."""
    strip = zlib.compress(b"\x00" * 256)
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 8), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(strip))]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_at = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = strip_at if tag == 273 else value
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip


def webp_bomb() -> bytes:
    """An extended WebP (VP8X) declaring a 16384 x 16384 canvas with a 1 x 1 frame inside."""
    canvas = struct.pack("<I", 16383)[:3] * 2  # width-1, height-1 as 24-bit fields
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    small = io.BytesIO()
    from PIL import Image as PILImage

    PILImage.new("RGB", (1, 1)).save(small, format="WEBP")
    frame = small.getvalue()[12:]  # the VP8/VP8L chunk of a 1 x 1 image
    body = b"WEBP" + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_text_bomb(megabytes: int = 64) -> bytes:
    """A small valid PNG carrying a zTXt chunk that inflates to `megabytes` MB."""
    png = image_bytes(8, 8)
    payload = b"Comment\x00\x00" + zlib.compress(b"A" * (megabytes * 2**20), 9)
    return png[:33] + png_chunk(b"zTXt", payload) + png[33:]  # after the 33-byte signature + IHDR


def png_zero_size() -> bytes:
    header = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"")) \
        + png_chunk(b"IEND", b"")


def png_corrupt_data() -> bytes:
    """A PNG whose compressed pixel stream is garbage (CRCs recomputed, so only inflating fails)."""
    png = image_bytes(64, 48)
    at = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[at:at + 4])[0]
    garbage = bytes((i * 37 + 11) % 256 for i in range(length))
    return png[:at] + png_chunk(b"IDAT", garbage) + png[at + 12 + length:]


def png_bad_crc() -> bytes:
    png = bytearray(image_bytes(64, 48))
    at = png.index(b"IDAT")
    png[at + 6] ^= 0xFF  # a byte of the compressed data: the chunk's CRC no longer matches
    return bytes(png)


def truncated(data: bytes, fraction: float) -> bytes:
    return data[: max(1, int(len(data) * fraction))]


def zip_slip() -> bytes:
    """A zip archive whose entries climb out of any extraction directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../../../tmp/concord-zip-slip.png", image_bytes(8, 8))
        archive.writestr("/etc/cron.d/concord", b"* * * * * root true\n")
    return buffer.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def gif_html_polyglot() -> bytes:
    """GIF magic followed by a script: a sniffer could take it for HTML; we take it for nothing."""
    return b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(document.domain)//" + b"\x00" * 32


def ico() -> bytes:
    buffer = io.BytesIO()
    from PIL import Image as PILImage

    PILImage.new("RGB", (16, 16)).save(buffer, format="ICO")
    return buffer.getvalue()
