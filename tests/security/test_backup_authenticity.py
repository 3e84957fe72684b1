"""A restore trusts only archives signed by a backup key it was given (finding 11): checksums prove an
archive whole, not who made it; an archive re-sealed by someone else restored whatever accounts and
password hashes it held."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.backup.archive import CHECKSUMS, MANIFEST
from app.backup.manifest import sealed, unsealed
from app.backup.service import NotAuthentic, restore
from app.backup.signing import key_id
from tests.backup.conftest import Made, made, target  # noqa: F401  (fixtures)
from tests.backup.helpers import Instance, row_counts

INTRUDER = b"intruder@evil.example"


def reseal(archive: Path, out: Path, *, edit: Callable[[str, bytes], bytes],
           manifest_edit: Callable[[dict], dict] = lambda body: body) -> None:
    """What someone with the archive can do: change members, then recompute every checksum and the seal."""
    with tarfile.open(archive) as original:
        members = [(m, original.extractfile(m).read()) for m in original.getmembers()]  # type: ignore[union-attr]
    changed = [(m, edit(m.name, data)) for m, data in members if m.name not in (CHECKSUMS, MANIFEST)]
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {m.name}\n" for m, data in changed).encode()
    body = unsealed(dict(members)[next(m for m, _ in members if m.name == MANIFEST)], MANIFEST)
    body["checksums"]["sha256"] = hashlib.sha256(sums).hexdigest()
    manifest = sealed(manifest_edit(body))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for m, data in [*changed, (tarfile.TarInfo(CHECKSUMS), sums), (tarfile.TarInfo(MANIFEST), manifest)]:
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))


def an_intruder(name: str, data: bytes) -> bytes:
    """Every account of the archive renamed to the intruder's address (as good as a new site admin)."""
    if not name.endswith("-users.jsonl.gz"):
        return data
    rows = gzip.decompress(data).decode()
    first_email = rows.split("@", 1)[0].rsplit('"', 1)[1] + "@" + rows.split("@", 1)[1].split('"', 1)[0]
    return gzip.compress(rows.replace(first_email, INTRUDER.decode()).encode(), mtime=0)


def test_a_resealed_archive_is_refused(made: Made, target: Instance, tmp_path: Path) -> None:  # noqa: F811
    forged = tmp_path / "forged.tar"
    reseal(made.archive, forged, edit=an_intruder)
    with target.session() as db, pytest.raises(NotAuthentic, match=f"signed by backup key {key_id(made.source.key)}"):
        restore(db, storage=target.storage, archive=forged, keys=[made.source.key, target.key])
    assert sum(row_counts(target.engine).values()) == 0 and list(target.storage.keys()) == []


def test_an_unsigned_archive_needs_the_operators_word(made: Made, target: Instance, tmp_path: Path) -> None:  # noqa: F811
    unsigned = tmp_path / "unsigned.tar"
    reseal(made.archive, unsigned, edit=an_intruder,
           manifest_edit=lambda body: {k: v for k, v in body.items() if k != "signature"})
    with target.session() as db, pytest.raises(NotAuthentic, match="--unsigned"):
        restore(db, storage=target.storage, archive=unsigned, keys=[made.source.key])
    assert sum(row_counts(target.engine).values()) == 0
    with target.session() as db:
        summary = restore(db, storage=target.storage, archive=unsigned, keys=[], unsigned_ok=True)
        db.commit()
        assert summary.signed_by is None
        assert db.scalar(select(User).where(User.email == INTRUDER.decode())) is not None  # as it was told


def test_a_genuine_archive_restores_with_its_makers_key(made: Made, target: Instance) -> None:  # noqa: F811
    with target.session() as db, pytest.raises(NotAuthentic, match="--key-file"):
        restore(db, storage=target.storage, archive=made.archive, keys=[target.key])
    with target.session() as db:
        summary = restore(db, storage=target.storage, archive=made.archive, keys=[target.key, made.source.key])
        db.commit()
    assert summary.signed_by == key_id(made.source.key)
