"""The Storage contract, the same on the local directory and on S3."""
from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage

from app.core.storage import Storage, StorageError
from tests.factories import image_bytes


def test_bytes_round_trip(storage: Storage) -> None:
    data = image_bytes()
    storage.put_bytes("images/p1/ab/one.png", data)
    assert storage.exists("images/p1/ab/one.png")
    assert storage.size("images/p1/ab/one.png") == len(data)
    assert storage.checksum("images/p1/ab/one.png") == hashlib.sha256(data).hexdigest()
    with storage.open("images/p1/ab/one.png") as stream:
        assert stream.read() == data


def test_a_large_file_streams_in_and_out(storage: Storage, tmp_path: Path) -> None:
    # Past the S3 multipart threshold (8 MB) and past open()'s in-memory spool.
    source = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with open(source, "wb") as out:
        for _ in range(9):
            out.write(block)
    storage.put_file("exports/big.bin", source)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    assert storage.size("exports/big.bin") == source.stat().st_size
    assert storage.checksum("exports/big.bin") == expected
    with storage.open("exports/big.bin") as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == expected


def test_open_is_seekable_so_pillow_can_read_it(storage: Storage) -> None:
    storage.put_bytes("thumbs/p1/x.png", image_bytes(width=20, height=10))
    with storage.open("thumbs/p1/x.png") as stream:
        stream.seek(0, io.SEEK_END)
        assert stream.tell() > 0
        stream.seek(0)
        with PILImage.open(stream) as picture:
            assert picture.size == (20, 10)


def test_a_missing_key(storage: Storage) -> None:
    assert not storage.exists("images/none.png")
    with pytest.raises(FileNotFoundError):
        storage.open("images/none.png")
    with pytest.raises(FileNotFoundError):
        storage.size("images/none.png")
    with pytest.raises(FileNotFoundError):
        storage.checksum("images/none.png")
    storage.delete("images/none.png")  # not an error


def test_overwrite_and_delete(storage: Storage) -> None:
    storage.put_bytes("a/key.bin", b"first")
    storage.put_bytes("a/key.bin", b"second version")
    with storage.open("a/key.bin") as stream:
        assert stream.read() == b"second version"
    storage.delete("a/key.bin")
    assert not storage.exists("a/key.bin")
    assert list(storage.keys()) == []


def test_keys_and_entries_by_prefix(storage: Storage) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    for key in ("images/p1/aa/1.png", "images/p1/bb/2.png", "images/p2/aa/3.png", "thumbs/p1/aa/1.jpg"):
        storage.put_bytes(key, key.encode())
    assert set(storage.keys()) == {"images/p1/aa/1.png", "images/p1/bb/2.png", "images/p2/aa/3.png",
                                   "thumbs/p1/aa/1.jpg"}
    assert set(storage.keys("images/p1/")) == {"images/p1/aa/1.png", "images/p1/bb/2.png"}
    assert set(storage.keys("images/p")) == {"images/p1/aa/1.png", "images/p1/bb/2.png", "images/p2/aa/3.png"}
    assert list(storage.keys("nothing/")) == []
    entries = {entry.key: entry for entry in storage.entries("thumbs/")}
    assert entries["thumbs/p1/aa/1.jpg"].size == len(b"thumbs/p1/aa/1.jpg")
    modified = entries["thumbs/p1/aa/1.jpg"].modified
    assert modified.tzinfo is not None and before < modified < datetime.now(UTC) + timedelta(minutes=5)


@pytest.mark.parametrize("key", ["../escape.png", "/etc/passwd", "a/../../b", "a//b", "a\\b", "a\x00b", "",
                                 "images/./x", "images/"])
def test_keys_that_are_not_ours_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.put_bytes(key, b"x")
    with pytest.raises(StorageError):
        storage.open(key)
    assert list(storage.keys()) == []
