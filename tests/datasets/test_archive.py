"""The streaming zip writer: readable by zipfile and unzip, deterministic, zip64 when needed, safe names."""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from app.datasets import archive as archive_module
from app.datasets.archive import Archive, UnsafeEntryName, check_entry_name


def build(entries: int = 3, *, large: bool = False) -> bytes:
    buffer = io.BytesIO()
    out = Archive(buffer)
    out.add_text("a.txt", "hello\n")
    with out.text("b/big.json", large=large) as f:
        for i in range(20_000):
            f.write(f'{{"i": {i}}},\n')
    with out.binary("images/1.png") as f:
        f.write(b"\x89PNG not really" * 100)
    for i in range(entries - 3):
        out.add_text(f"labels/{i}.txt", f"{i}\n")
    out.close()
    return buffer.getvalue()


@pytest.mark.parametrize("large", [False, True])
def test_zipfile_reads_back_every_entry(large: bool, tmp_path: Path) -> None:
    data = build(5, large=large)
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    assert zf.namelist() == ["a.txt", "b/big.json", "images/1.png", "labels/0.txt", "labels/1.txt"]
    assert zf.read("a.txt") == b"hello\n" and zf.read("b/big.json").count(b"\n") == 20_000
    assert zf.getinfo("images/1.png").compress_type == zipfile.ZIP_STORED
    assert zf.getinfo("b/big.json").compress_type == zipfile.ZIP_DEFLATED
    for info in zf.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.create_system == 3
        assert info.external_attr >> 16 == 0o100644
    if shutil.which("unzip"):
        (tmp_path / "x.zip").write_bytes(data)
        assert subprocess.run(["unzip", "-tq", str(tmp_path / "x.zip")], capture_output=True).returncode == 0


def test_the_same_entries_give_the_same_bytes() -> None:
    assert hashlib.sha256(build(10)).hexdigest() == hashlib.sha256(build(10)).hexdigest()


def test_more_than_65535_entries_get_zip64_end_records() -> None:
    buffer = io.BytesIO()
    out = Archive(buffer)
    for i in range(70_000):
        out.add_text(f"l/{i}.txt", "")
    out.close()
    zf = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert len(zf.infolist()) == 70_000 and zf.read("l/69999.txt") == b""


def test_offsets_past_4_gib_use_zip64_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_module, "LIMIT32", 3000)  # pretend 3,000 bytes is 4 GiB
    data = build(40, large=True)
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None and len(zf.namelist()) == 40
    assert zf.getinfo("labels/36.txt").header_offset > 3000


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", ".hidden", "a/./b", "x\x00",
                                  "a b.txt", "C:x", "a/\u202eexe.txt", "x/", "a\u3000b.txt", "\uff0e\uff0e/x"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeEntryName):
        check_entry_name(name)


def test_unicode_names_and_empty_folders_extract_as_written(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    out = Archive(buffer)
    out.add_text("images/划痕_001.txt", "x")
    with out.binary("JPEGImages/ünï.png") as f:
        f.write(b"\x89PNG")
    out.add_directory("val/03_pit")
    out.close()
    zf = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert zf.namelist() == ["images/划痕_001.txt", "JPEGImages/ünï.png", "val/03_pit/"]
    assert all(info.flag_bits & 0x800 for info in zf.infolist()[:2])  # UTF-8 names, flagged as such
    assert zf.getinfo("val/03_pit/").is_dir() and zf.getinfo("val/03_pit/").external_attr >> 16 == 0o40755
    if shutil.which("unzip"):
        (tmp_path / "x.zip").write_bytes(buffer.getvalue())
        subprocess.run(["unzip", "-q", str(tmp_path / "x.zip"), "-d", str(tmp_path / "out")], check=True)
        assert (tmp_path / "out" / "images" / "划痕_001.txt").read_text() == "x"
        assert (tmp_path / "out" / "val" / "03_pit").is_dir()
