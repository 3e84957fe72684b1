"""`concord backup OUT` and `concord restore IN`: the drill from the command line, and one readable
line with a distinct exit code (1: the archive, 2: the target) for each way a restore is refused."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import root
from app.core import migrate
from app.core.config import get_settings
from tests.backup.conftest import kind_of
from tests.backup.helpers import instance, row_counts
from tests.backup.scene import media_checksums, seed
from tests.backup.test_refusals import flip_byte, member
from tests.support.databases import engine_url, fresh_database


def run(*args: str):
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def point_cli_at(monkeypatch: pytest.MonkeyPatch, engine: Engine, data_dir: Path) -> None:
    monkeypatch.setenv("CONCORD_DATABASE_URL", engine_url(engine))
    monkeypatch.setenv("CONCORD_DATA_DIR", str(data_dir))
    get_settings.cache_clear()


def refused(args: list[str], code: int, words: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output


def test_backup_and_restore_from_the_command_line(cli_env: Engine, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    source = instance(cli_env, tmp_path / "data")  # where cli_env points the CLI
    with source.session() as db:
        seeded = seed(db, source.storage, source.settings)
    archive = tmp_path / "nightly" / "concord.tar"
    made = run("backup", str(archive), "--progress")
    assert made.exit_code == 0, made.output
    assert "backup written" in made.output and archive.is_file()

    key_file = tmp_path / "backup.key"
    key_file.write_text(run("backup-key").stdout)  # the source instance's backup key, kept apart
    with fresh_database(kind_of(cli_env), tmp_path) as engine:
        point_cli_at(monkeypatch, engine, tmp_path / "restored")  # another instance: another secret key
        refused(["restore", str(archive)], 1, "restore it with --key-file")
        done = run("restore", str(archive), "--key-file", str(key_file), "--progress")
        assert done.exit_code == 0, done.output
        assert "signed with backup key" in done.output
        target = instance(engine, tmp_path / "restored")
        assert media_checksums(target.storage) == seeded.media
        assert row_counts(engine) == row_counts(cli_env)
        refused(["restore", str(archive)], 2, "not empty")
    get_settings.cache_clear()


def test_a_refused_restore_says_why_in_one_line(cli_env: Engine, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source = instance(cli_env, tmp_path / "data")
    with source.session() as db:
        seed(db, source.storage, source.settings)
    archive = tmp_path / "concord.tar"
    assert run("backup", str(archive)).exit_code == 0
    damaged, short = tmp_path / "damaged.tar", tmp_path / "short.tar"
    damaged.write_bytes(archive.read_bytes())
    found = member(damaged, "media/")
    flip_byte(damaged, found.offset_data + 1)
    short.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    with fresh_database(kind_of(cli_env), tmp_path) as engine:
        point_cli_at(monkeypatch, engine, tmp_path / "restored")
        refused(["restore", str(damaged)], 1, f"{found.name} is damaged")  # integrity first, then authenticity
        refused(["restore", str(short)], 1, "cut short")
        refused(["restore", str(tmp_path / "missing.tar")], 1, "is not a file")
        assert sum(row_counts(engine).values()) == 0
    head = migrate.head_revision()
    with fresh_database(kind_of(cli_env), tmp_path, migrate_to="base") as empty:
        migrate.upgrade(empty, f"{head}-1")
        point_cli_at(monkeypatch, empty, tmp_path / "old")
        refused(["restore", str(archive)], 2, "schema revision")
    point_cli_at(monkeypatch, cli_env, tmp_path / "data")
    refused(["restore", str(archive)], 2, "not empty")
    get_settings.cache_clear()
