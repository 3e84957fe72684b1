"""fsck: rows that point to missing files, and files no row references (reliability #39).

A crash between "file written" and "row committed" leaves an orphan file; that is the safe order, so
orphans are expected and removed here. A row pointing to a missing file is the bad case: it is
reported, never "fixed" by deleting rows (labels hang off them).

Files younger than `min_age` are left alone: an upload in flight has written its file and not yet
committed its row, and must not lose the file under it.

The staging directory (data_dir/tmp, where uploads are copied and verified before they reach storage)
is swept too: a process killed mid-upload never removes its staged copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.storage import LocalStorage, Storage, StoredObject
from app.files.references import all_references, referenced
from app.files.service import entry_of
from app.jobs.registry import Progress, no_progress

BATCH = 500
DEFAULT_MIN_AGE = timedelta(hours=1)


@dataclass
class Missing:
    key: str
    where: str  # "images.storage_key"
    row_id: int


@dataclass
class FsckReport:
    files: int = 0
    rows: int = 0
    missing: list[Missing] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    young_orphans: int = 0  # unreferenced but newer than min_age: possibly an upload in flight
    temp_files: list[str] = field(default_factory=list)  # half-written files of a crashed write
    staged_files: list[str] = field(default_factory=list)  # staged upload copies a crashed process left
    removed: int = 0

    @property
    def clean(self) -> bool:
        return not self.missing and not self.orphans and not self.temp_files and not self.staged_files

    def as_json(self) -> dict[str, object]:
        return {"files": self.files, "rows": self.rows, "removed": self.removed, "young_orphans": self.young_orphans,
                "missing": [m.__dict__ for m in self.missing], "orphans": self.orphans, "temp_files": self.temp_files,
                "staged_files": self.staged_files}


def fsck(db: Session, *, storage: Storage, fix: bool = False, min_age: timedelta = DEFAULT_MIN_AGE,
         progress: Progress = no_progress, now: datetime | None = None, staging_dir: Path | None = None,
         ) -> FsckReport:
    """Check storage against the database; with `fix`, delete orphans (and old temp files, and old
    files in `staging_dir`) older than `min_age`. Streams both sides in batches: memory stays flat
    however large the store."""
    cutoff = (now or utcnow()) - min_age
    report = FsckReport()
    batch: list[StoredObject] = []
    for entry in storage.entries():
        report.files += 1
        batch.append(entry)
        if len(batch) >= BATCH:
            _orphans_in(db, storage, batch, report, fix=fix, cutoff=cutoff)
            progress(0.0, f"{report.files} files checked")
            batch = []
    _orphans_in(db, storage, batch, report, fix=fix, cutoff=cutoff)
    if isinstance(storage, LocalStorage):
        for temp in storage.temp_files():
            if temp.modified < cutoff:
                report.temp_files.append(temp.key)
                if fix:
                    storage.remove_temp_file(temp.key)
                    report.removed += 1
    if staging_dir is not None:
        _stale_staged(staging_dir, report, fix=fix, cutoff=cutoff)
    for key, where, row_id in all_references(db):
        report.rows += 1
        if not storage.exists(key):
            report.missing.append(Missing(key, where, row_id))
        if report.rows % BATCH == 0:
            progress(0.5, f"{report.rows} rows checked")
    progress(1.0, f"{report.files} files, {report.rows} rows checked")
    return report


def _orphans_in(db: Session, storage: Storage, batch: list[StoredObject], report: FsckReport, *, fix: bool,
                cutoff: datetime) -> None:
    in_use = referenced(db, [entry.key for entry in batch])
    for entry in batch:
        if entry.key in in_use:
            continue
        if entry.modified >= cutoff:
            report.young_orphans += 1
            continue
        report.orphans.append(entry.key)
        if fix and entry_of(storage, entry.key) == entry:  # not stored again since we listed it
            storage.delete(entry.key)
            report.removed += 1


def _stale_staged(staging_dir: Path, report: FsckReport, *, fix: bool, cutoff: datetime) -> None:
    if not staging_dir.is_dir():
        return
    for path in sorted(staging_dir.iterdir()):
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue  # its upload finished meanwhile
        if not path.is_file() or modified >= cutoff:
            continue
        report.staged_files.append(f"{staging_dir.name}/{path.name}")
        if fix:
            path.unlink(missing_ok=True)
            report.removed += 1
