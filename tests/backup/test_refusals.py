"""A restore refuses, having written nothing to the database or the storage, when the target is not
empty or at another schema revision, and when the archive is damaged, cut short or not ours."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.backup.archive import CHECKSUMS, HEADER, MANIFEST
from app.backup.service import ArchiveCorrupt, ChecksumMismatch, SchemaMismatch, TargetNotEmpty, backup, restore
from app.core import migrate
from app.core.migrate import alembic_config
from tests.backup.conftest import Made, kind_of
from tests.backup.helpers import Instance, all_rows, instance, row_counts
from tests.factories import make_user
from tests.support.databases import fresh_database


def members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        return tar.getmembers()


def member(archive: Path, prefix: str) -> tarfile.TarInfo:
    return next(m for m in members(archive) if m.name.startswith(prefix) and m.size > 0)


def flip_byte(archive: Path, at: int) -> None:
    with open(archive, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x01]))


def assert_untouched(target: Instance) -> None:
    assert sum(row_counts(target.engine).values()) == 0
    assert list(target.storage.keys()) == []
    assert migrate.current_revision(target.engine) == migrate.head_revision()


def test_a_database_with_rows_is_refused_and_left_as_it_was(made: Made, target: Instance) -> None:
    with target.session() as db:
        make_user(db, email="already@example.com", password=None)
        db.commit()
    before = all_rows(target.engine)
    with target.session() as db, pytest.raises(TargetNotEmpty, match="users"):
        restore(db, storage=target.storage, archive=made.archive, keys=[made.source.key])
    assert all_rows(target.engine) == before
    assert list(target.storage.keys()) == []


def test_a_database_at_another_schema_revision_is_refused(made: Made, tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    head_id = migrate.head_revision()
    assert head_id is not None
    head = ScriptDirectory.from_config(alembic_config()).get_revision(head_id)
    assert head is not None
    previous = head.down_revision
    assert isinstance(previous, str)
    kind = kind_of(made.source.engine)
    with fresh_database(kind, tmp_path, migrate_to=previous) as engine:
        old = instance(engine, tmp_path / "old-data")
        with old.session() as db, pytest.raises(SchemaMismatch, match=previous):
            restore(db, storage=old.storage, archive=made.archive, keys=[made.source.key])
        assert migrate.current_revision(engine) == previous and list(old.storage.keys()) == []


@pytest.mark.parametrize(("prefix", "error"), [("media/images/", ChecksumMismatch), ("media/thumbs/", ChecksumMismatch),
                                               ("tables/", ChecksumMismatch), (CHECKSUMS, ArchiveCorrupt),
                                               (MANIFEST, ArchiveCorrupt), (HEADER, ArchiveCorrupt)])
def test_one_flipped_byte_is_refused_before_anything_is_written(made: Made, target: Instance, prefix: str,
                                                                error: type[Exception]) -> None:
    found = member(made.archive, prefix)
    flip_byte(made.archive, found.offset_data + found.size // 2)
    with target.session() as db, pytest.raises(error):
        restore(db, storage=target.storage, archive=made.archive, keys=[made.source.key])
    assert_untouched(target)


def test_a_truncated_archive_is_refused(made: Made, target: Instance, tmp_path: Path) -> None:
    size = made.archive.stat().st_size
    manifest = member(made.archive, MANIFEST)
    for cut in (100, size // 2, manifest.offset, size - 1024 * 10 - 1):
        short = tmp_path / f"cut-{cut}.tar"
        with open(made.archive, "rb") as source, open(short, "wb") as out:
            out.write(source.read(cut))
        with target.session() as db, pytest.raises(ArchiveCorrupt):
            restore(db, storage=target.storage, archive=short, keys=[made.source.key])
        assert_untouched(target)


def test_a_member_that_is_not_ours_is_refused(made: Made, target: Instance, tmp_path: Path) -> None:
    forged = tmp_path / "forged.tar"
    with tarfile.open(made.archive) as original, tarfile.open(forged, "w", format=tarfile.PAX_FORMAT) as out:
        header = original.getmember(HEADER)
        out.addfile(header, original.extractfile(header))
        for name in ("media/../../escape.png", "/etc/cron.d/x", "tables/001-users.jsonl.gz/../../x"):
            out.addfile(tarfile.TarInfo(name), io.BytesIO())
    with target.session() as db, pytest.raises(ArchiveCorrupt, match="escape"):
        restore(db, storage=target.storage, archive=forged, keys=[made.source.key])
    assert_untouched(target)
    assert not (tmp_path / "escape.png").exists()


def test_a_file_that_is_not_a_backup_is_refused(target: Instance, tmp_path: Path) -> None:
    for name, data in (("empty.tar", b""), ("text.tar", b"hello " * 1000)):
        (tmp_path / name).write_bytes(data)
        with target.session() as db, pytest.raises(ArchiveCorrupt):
            restore(db, storage=target.storage, archive=tmp_path / name, keys=[target.key])
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as out:
        out.addfile(tarfile.TarInfo("README"), io.BytesIO())
    with target.session() as db, pytest.raises(ArchiveCorrupt, match="not a Concord backup"):
        restore(db, storage=target.storage, archive=plain, keys=[target.key])
    assert_untouched(target)


def test_a_backup_is_one_moment_and_writers_go_on_meanwhile(made: Made, tmp_path: Path) -> None:
    """A user committed while the rows are being read is not in the backup, and its commit did not
    wait for the backup (SQLite: the backup holds no write lock)."""
    source = made.source
    written: list[int] = []

    def write_meanwhile(done: int, total: int, message: str) -> None:
        if not written and message.startswith("rows of"):
            with source.session() as other:
                written.append(make_user(other, email="meanwhile@example.com", password=None).id)
                other.commit()

    before = row_counts(source.engine)
    archive = tmp_path / "during.tar"
    with source.session() as db:
        summary = backup(db, storage=source.storage, key=source.key, out_path=archive, progress=write_meanwhile)
    assert written and summary.counts == before
    with tarfile.open(archive) as tar:
        users = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("-users.jsonl.gz")))
        assert users is not None
        lines = gzip.decompress(users.read()).decode().splitlines()
    assert len(lines) == 1 + before["users"] and "meanwhile@example.com" not in "".join(lines)
    with source.session() as db:
        assert db.scalar(select(User.id).where(User.email == "meanwhile@example.com")) == written[0]
    assert not list(archive.parent.glob(".during.tar.*.part"))
