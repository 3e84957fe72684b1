"""The feature cache: a recipe's features of an image's bytes, extracted once and kept in model_features.

Keyed by the recipe identity's `feature_key` and the image's sha256, so a retrain after a relabel, a
new version or another seed extracts nothing it has seen; only images whose bytes are new are read
from storage and run through the recipe.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.storage import Storage
from app.jobs.registry import Progress, no_progress
from app.modeling.models import FeatureVector
from app.training.extract import extract_many
from app.training.recipe import Recipe

LOOKUP_CHUNK = 500  # sha256 values per IN (...) query
STORE_CHUNK = 200  # images extracted (and stored) between progress reports, which may commit


@dataclass(frozen=True)
class ImageSource:
    sha256: str
    storage_key: str
    name: str = ""  # for people, in errors: the uploaded file name


@dataclass(frozen=True)
class Features:
    matrix: np.ndarray  # (n, d) float32, row i for sources[i]
    extracted: int  # distinct images whose features were computed now (the rest came from the cache)


def features_for(db: Session, *, storage: Storage, recipe: Recipe, sources: Sequence[ImageSource],
                 progress: Progress = no_progress, should_stop: Callable[[], bool] | None = None,
                 workers: int = 2) -> Features:
    """Features of every source, from the cache where present; the missing ones are extracted and stored
    in chunks, with `progress` between chunks (so a job that dies keeps what it extracted)."""
    key = recipe.identity.feature_key
    known = cached(db, key, [s.sha256 for s in sources])
    missing: dict[str, ImageSource] = {}
    for source in sources:
        if source.sha256 not in known:
            missing.setdefault(source.sha256, source)
    todo = list(missing.values())
    for start in range(0, len(todo), STORE_CHUNK):
        chunk = todo[start:start + STORE_CHUNK]
        progress(start / len(todo), f"features of {start:,} of {len(todo):,} new images")
        rows = _extract(recipe, storage, chunk, workers=workers, should_stop=should_stop)
        store(db, key, [s.sha256 for s in chunk], rows)
        known.update({s.sha256: row for s, row in zip(chunk, rows, strict=True)})
    if todo:
        progress(1.0, f"features of {len(todo):,} new images")
    dimension = int(getattr(recipe, "dimension", 0))
    matrix = (np.stack([known[s.sha256] for s in sources]).astype(np.float32, copy=False) if sources
              else np.zeros((0, dimension), dtype=np.float32))
    return Features(matrix=matrix, extracted=len(todo))


def cached(db: Session, feature_key: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """The cached vectors among `hashes`, by sha256."""
    wanted = sorted(set(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        query = select(FeatureVector.sha256, FeatureVector.dims, FeatureVector.vector).where(
            FeatureVector.feature_key == feature_key, FeatureVector.sha256.in_(wanted[start:start + LOOKUP_CHUNK]))
        for sha, dims, blob in db.execute(query):
            vector = np.frombuffer(blob, dtype="<f4")
            if vector.size == dims:  # a damaged row is extracted again (and overwrites nothing: see store)
                found[sha] = vector.astype(np.float32)
    return found


def store(db: Session, feature_key: str, hashes: Sequence[str], rows: np.ndarray) -> None:
    """Insert the vectors; a row another run stored meanwhile (same key, same bytes) is left as it is."""
    if not hashes:
        return
    values = [{"feature_key": feature_key, "sha256": sha, "dims": int(row.size),
               "vector": np.asarray(row, dtype="<f4").tobytes()} for sha, row in zip(hashes, rows, strict=True)]
    insert = postgres_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(insert(FeatureVector).values(values).on_conflict_do_nothing())


def _extract(recipe: Recipe, storage: Storage, chunk: Sequence[ImageSource], *, workers: int,
             should_stop: Callable[[], bool] | None) -> np.ndarray:
    try:
        return extract_many(recipe, [_reader(storage, s) for s in chunk], workers=workers,
                            should_stop=should_stop)
    except ValueError as exc:  # "image 3: ..." counts within the chunk: name the image instead
        found = re.match(r"image (\d+): (.*)", str(exc), flags=re.DOTALL)
        if found is None or int(found[1]) >= len(chunk):
            raise
        raise ValueError(f"image {_name(chunk[int(found[1])])}: {found[2]}") from exc


def _name(source: ImageSource) -> str:
    return source.name or source.sha256[:12]


def _reader(storage: Storage, source: ImageSource) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with storage.open(source.storage_key) as handle:
                return handle.read()
        except FileNotFoundError:  # final, unlike a storage outage (StorageUnavailable: the job retries)
            raise ValueError(f"image {_name(source)}: its file is missing from storage (`concord storage fsck` "
                             "lists such images)") from None

    return read
