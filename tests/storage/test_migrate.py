"""`concord storage migrate --to s3`: a local store copied into a bucket, verified, resumable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.s3storage import S3Storage
from app.core.storage import LocalStorage, StorageUnavailable
from app.files.migrate import MigrationError, migrate_store
from tests.support.s3 import make_s3_storage, s3_env, s3_settings

KEYS = [f"images/p1/{i % 4:02x}/{i:04d}.png" for i in range(12)] + ["thumbs/p1/00/0000.jpg", "exports/empty.zip"]


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(tmp_path / "media")
    for n, key in enumerate(KEYS):
        store.put_bytes(key, b"" if key.endswith("empty.zip") else f"file {n} ".encode() * (n + 1))
    return store


@pytest.fixture
def bucket(s3_endpoint: str, tmp_path: Path) -> S3Storage:
    return make_s3_storage(s3_endpoint, tmp_path)


def same_contents(a: LocalStorage | S3Storage, b: LocalStorage | S3Storage) -> bool:
    keys = sorted(a.keys())
    return keys == sorted(b.keys()) and all(a.checksum(k) == b.checksum(k) for k in keys)


def test_everything_is_copied_and_verified(local: LocalStorage, bucket: S3Storage) -> None:
    seen: list[tuple[int, int]] = []
    report = migrate_store(local, bucket, report=lambda done, total, key: seen.append((done, total)))
    assert (report.total, report.copied, report.skipped) == (len(KEYS), len(KEYS), 0)
    assert seen[-1] == (len(KEYS), len(KEYS))
    assert same_contents(local, bucket)
    for key in KEYS:  # the bytes themselves, not only the recorded checksum
        with local.open(key) as original, bucket.open(key) as copy:
            assert original.read() == copy.read()


def test_an_interrupted_run_resumes_where_it_stopped(local: LocalStorage, bucket: S3Storage,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_put, calls = bucket.put_file, []

    def flaky_put(key: str, source: Path) -> None:
        calls.append(key)
        if len(calls) == 6:
            raise StorageUnavailable("the object store did not answer")
        real_put(key, source)

    monkeypatch.setattr(bucket, "put_file", flaky_put)
    with pytest.raises(StorageUnavailable):
        migrate_store(local, bucket)
    assert len(list(bucket.keys())) == 5
    monkeypatch.setattr(bucket, "put_file", real_put)
    report = migrate_store(local, bucket)
    assert (report.skipped, report.copied) == (5, len(KEYS) - 5)
    assert same_contents(local, bucket)
    assert migrate_store(local, bucket).skipped == len(KEYS)  # a third run has nothing to do


def test_a_corrupted_copy_stops_the_run(local: LocalStorage, bucket: S3Storage,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = bucket.put_file

    def corrupting_put(key: str, source: Path) -> None:
        bucket.put_bytes(key, source.read_bytes() + b"!") if key == KEYS[3] else real_put(key, source)

    monkeypatch.setattr(bucket, "put_file", corrupting_put)
    with pytest.raises(MigrationError, match=KEYS[3]):
        migrate_store(local, bucket)


def test_a_changed_file_is_copied_again(local: LocalStorage, bucket: S3Storage) -> None:
    migrate_store(local, bucket)
    local.put_bytes(KEYS[0], b"rewritten with other bytes")
    report = migrate_store(local, bucket)
    assert (report.copied, report.skipped) == (1, len(KEYS) - 1)
    assert same_contents(local, bucket)


def test_back_from_s3_to_local(local: LocalStorage, bucket: S3Storage, tmp_path: Path) -> None:
    migrate_store(local, bucket)
    other = LocalStorage(tmp_path / "restored")
    assert migrate_store(bucket, other).copied == len(KEYS)
    assert same_contents(bucket, other)


def test_the_command(local: LocalStorage, s3_endpoint: str, tmp_path: Path) -> None:
    settings = s3_settings(s3_endpoint, tmp_path, storage_backend="local")
    make_s3_storage(s3_endpoint, tmp_path, bucket=settings["s3_bucket"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(s3_env(settings), CONCORD_STORAGE_BACKEND="local", CONCORD_DATA_DIR=str(tmp_path),
               CONCORD_DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}")
    concord = str(Path(sys.executable).parent / "concord")
    done = subprocess.run([concord, "storage", "migrate", "--to", "s3", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": len(KEYS), "copied": len(KEYS), "skipped": 0,
                                       "bytes_copied": sum(local.size(k) for k in KEYS)}
    again = subprocess.run([concord, "storage", "migrate", "--to", "s3", "--json"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert json.loads(again.stdout)["skipped"] == len(KEYS)
