"""Reliability #46: a backup/restore drill. The restored instance re-exports the same dataset version
with the same SHA-256, holds the same media byte for byte and the same rows, and gives new rows fresh
ids (Postgres sequences are moved past the restored ids)."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.auth.models import User
from app.backup.service import backup, restore
from app.core.db import make_sessionmaker
from app.datasets.models import DatasetVersion
from app.images.models import Image
from app.labeling.models import Annotation
from tests.backup.helpers import Instance, all_rows, instance, row_counts
from tests.backup.scene import export_sha256, media_checksums, seed
from tests.factories import image_bytes, make_annotation, make_user
from tests.support.databases import fresh_database
from tests.support.s3 import make_s3_storage


def drill(source: Instance, target: Instance, tmp_path: Path) -> None:
    with source.session() as db:
        seeded = seed(db, source.storage, source.settings)
    archive = tmp_path / "backups" / "concord.tar"
    with source.session() as db:
        summary = backup(db, storage=source.storage, key=source.key, out_path=archive)
    assert summary.missing_media == [] and summary.media_objects == len(seeded.media)
    assert summary.counts == row_counts(source.engine)

    with target.session() as db:
        restored = restore(db, storage=target.storage, archive=archive, keys=[source.key])
        db.commit()
    assert restored.rows == summary.counts
    assert media_checksums(target.storage) == seeded.media
    assert all_rows(target.engine) == all_rows(source.engine)
    with target.session() as db:
        version = db.get_one(DatasetVersion, seeded.version_id)
        assert export_sha256(db, target.storage, version, tmp_path) == seeded.export_sha256
        db.commit()
    new_rows_get_fresh_ids(target)


def new_rows_get_fresh_ids(target: Instance) -> None:
    with target.session() as db:
        highest = {m: db.scalar(select(func.max(m.id))) for m in (User, Image, Annotation)}
        user = make_user(db, password=None)
        image = db.scalars(select(Image).order_by(Image.id)).first()
        assert image is not None
        added = Image(project_id=image.project_id, sha256="f" * 64, file_name="new.png", format="PNG", width=64,
                      height=48, size_bytes=len(image_bytes()), storage_key="images/new.png", meta={})
        db.add(added)
        db.flush()
        annotation = make_annotation(db, added, user, None, [])
        db.commit()
        assert user.id > (highest[User] or 0) and added.id > (highest[Image] or 0)
        assert annotation.id > (highest[Annotation] or 0)


def test_a_restored_instance_exports_the_same_hash_and_holds_the_same_media(fresh_engine: Engine,
                                                                           tmp_path: Path) -> None:
    kind = fresh_engine.dialect.name.replace("postgresql", "postgres")
    source = instance(fresh_engine, tmp_path / "source")
    with fresh_database(kind, tmp_path) as target_engine:
        drill(source, instance(target_engine, tmp_path / "target"), tmp_path)


@pytest.mark.parametrize(("origin", "destination"), [("sqlite", "postgres"), ("postgres", "sqlite")])
def test_a_backup_restores_across_databases(origin: str, destination: str, tmp_path: Path) -> None:
    with fresh_database(origin, tmp_path) as source_engine, fresh_database(destination, tmp_path) as target_engine:
        drill(instance(source_engine, tmp_path / "source"), instance(target_engine, tmp_path / "target"), tmp_path)


def test_media_go_from_a_local_folder_to_s3_and_back(tmp_path: Path, s3_endpoint: str) -> None:
    """The archive does not care which backend wrote it: a local instance restored onto S3 (moto) holds
    the same objects, and its backup restores onto a local folder again."""
    with fresh_database("sqlite", tmp_path) as first, fresh_database("sqlite", tmp_path) as second, \
            fresh_database("sqlite", tmp_path) as third:
        source = instance(first, tmp_path / "source")
        with source.session() as db:
            seeded = seed(db, source.storage, source.settings)
        with source.session() as db:
            backup(db, storage=source.storage, key=source.key, out_path=tmp_path / "local.tar")
        on_s3 = make_s3_storage(s3_endpoint, tmp_path / "s3")
        with make_sessionmaker(second)() as db:
            restore(db, storage=on_s3, archive=tmp_path / "local.tar", keys=[source.key])
            db.commit()
        assert media_checksums(on_s3) == seeded.media
        with make_sessionmaker(second)() as db:
            backup(db, storage=on_s3, out_path=tmp_path / "s3.tar", key=source.key)
        back = instance(third, tmp_path / "back")
        with back.session() as db:
            restore(db, storage=back.storage, archive=tmp_path / "s3.tar", keys=[source.key])
            db.commit()
        assert media_checksums(back.storage) == seeded.media
        assert all_rows(third) == all_rows(first)


def test_a_file_deleted_while_the_backup_runs_is_reported(fresh_engine: Engine, tmp_path: Path) -> None:
    """Rows are read first, files after: a file whose row the snapshot holds but which is deleted before
    it is copied is named in the summary and the manifest, not silently left out."""
    source = instance(fresh_engine, tmp_path / "source")
    with source.session() as db:
        seed(db, source.storage, source.settings)
        key = db.scalars(select(Image.storage_key).order_by(Image.id)).first()
    assert key is not None

    def delete_meanwhile(done: int, total: int, message: str) -> None:
        if message.startswith("rows of") and source.storage.exists(key):
            source.storage.delete(key)

    with source.session() as db:
        summary = backup(db, storage=source.storage, key=source.key, out_path=tmp_path / "b.tar",
                         progress=delete_meanwhile)
    assert summary.missing_media == [key]
