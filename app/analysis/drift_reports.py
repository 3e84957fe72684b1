"""Drift of upload batches and slices: image statistics from thumbnails, reports, and the queue boost.

`record_image_stats` is the ingest hook (optional: `run_drift` computes missing statistics lazily).
`run_drift` writes a DriftReport, the per-batch verdicts into UploadBatch.stats["drift"], and raises
the queue priority of the images of every flagged batch and of every flagged slice that no smaller
flagged slice explains, so new conditions get labeled first. Reading reports never writes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.analysis import drift
from app.analysis.data import BATCH_DIMENSION, DATE_DIMENSION, dimensions, original_images
from app.analysis.models import DriftReport, ImageStats
from app.analysis.slices import SliceKey, enumerate_slices, slice_key_name
from app.auth.models import User
from app.core import audit
from app.core.errors import NotFound
from app.core.storage import Storage
from app.images.models import Image, UploadBatch

Progress = Callable[[float, str], None]
DRIFT_PRIORITY = 10  # images of drifted batches/slices are served before priority-0 images
CHUNK = 200


def _pixels(storage: Storage, image: Image) -> np.ndarray:
    key = image.thumbnail_key or image.storage_key
    with storage.open(key) as handle, PILImage.open(handle) as opened:
        opened.draft("RGB", (drift.WORK_SIZE * 2, drift.WORK_SIZE * 2))
        small = opened.convert("RGB")
        small.thumbnail((drift.WORK_SIZE, drift.WORK_SIZE), PILImage.Resampling.BILINEAR)
        return np.asarray(small)


def record_image_stats(db: Session, *, storage: Storage, images: Sequence[Image]) -> int:
    """Compute and store (or refresh) the statistics of `images`; returns how many. Unreadable files are
    skipped (the media check reports them). Flushes, never commits."""
    done = 0
    for image in images:
        if image.augmented_from_id is not None:
            continue
        try:
            values = drift.image_features(_pixels(storage, image))
        except (OSError, ValueError, PILImage.DecompressionBombError):
            continue
        row = db.get(ImageStats, image.id) or ImageStats(image_id=image.id, project_id=image.project_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.add(row)
        done += 1
    db.flush()
    return done


def ensure_image_stats(db: Session, *, storage: Storage, project_id: int, progress: Progress | None = None) -> int:
    """Statistics for every original image that has none yet, CHUNK images at a time."""
    have = select(ImageStats.image_id).where(ImageStats.project_id == project_id)
    missing = list(db.scalars(select(Image).where(Image.project_id == project_id, Image.augmented_from_id.is_(None),
                                                  Image.id.not_in(have)).order_by(Image.id)))
    for start in range(0, len(missing), CHUNK):
        record_image_stats(db, storage=storage, images=missing[start:start + CHUNK])
        if progress:
            progress(min(1.0, (start + CHUNK) / len(missing)), f"image statistics {start + CHUNK}/{len(missing)}")
    return len(missing)


def reference_batch(db: Session, project_id: int) -> UploadBatch | None:
    """The batch marked as reference, else the oldest batch."""
    batches = db.scalars(select(UploadBatch).where(UploadBatch.project_id == project_id)
                         .order_by(UploadBatch.is_reference.desc(), UploadBatch.id)).all()
    return batches[0] if batches else None


def set_reference_batch(db: Session, *, project_id: int, batch_id: int, actor: User | None) -> UploadBatch:
    batch = db.get(UploadBatch, batch_id)
    if batch is None or batch.project_id != project_id:
        raise NotFound("upload batch not found")
    db.execute(update(UploadBatch).where(UploadBatch.project_id == project_id, UploadBatch.id != batch_id)
               .values(is_reference=False))
    batch.is_reference = True
    audit.record(db, action="analysis.reference_batch_set", actor_id=actor.id if actor else None,
                 project_id=project_id, object_type="upload_batch", object_id=batch.id)
    db.flush()
    return batch


def _hist_json(hists: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {name: [int(v) for v in h] for name, h in hists.items()}


@dataclass
class DriftComputation:
    body: dict[str, Any]  # the report's JSON form
    image_ids: np.ndarray  # images with statistics, aligned with the masks
    masks: dict[SliceKey, np.ndarray]  # slice key -> its images
    drifted: dict[SliceKey, bool]  # slice key -> flagged and not explained by a smaller flagged slice


def compute_drift(db: Session, project_id: int) -> DriftComputation:
    """Every batch and slice against the reference (read-only)."""
    images = original_images(db, project_id)
    stats = {s.image_id: s for s in db.scalars(select(ImageStats).where(ImageStats.project_id == project_id))}
    images = [image for image in images if image.id in stats]
    values = {f: np.array([getattr(stats[image.id], f) for image in images], dtype=float) for f in drift.FEATURE_NAMES}
    batch_of = np.array([image.batch_id or 0 for image in images])
    ref_batch = reference_batch(db, project_id)
    use_batch = ref_batch is not None and bool((batch_of == ref_batch.id).sum() >= drift.MIN_IMAGES) \
        and len(set(batch_of.tolist())) > 1  # bool(): a numpy bool in the report's JSON was a 500
    ref_mask = batch_of == ref_batch.id if use_batch and ref_batch else np.ones(len(images), dtype=bool)

    def hists(mask: np.ndarray) -> dict[str, np.ndarray]:
        return drift.histograms({f: v[mask] for f, v in values.items()})

    reference = hists(ref_mask)
    rng = np.random.default_rng(0)  # the noise floors are reproducible run to run
    batch_rows = []
    names = dict(db.execute(select(UploadBatch.id, UploadBatch.name).where(UploadBatch.project_id == project_id)).all())
    for batch_id in sorted(set(batch_of.tolist()) - {0}):
        mask = batch_of == batch_id
        is_ref = use_batch and ref_batch is not None and batch_id == ref_batch.id
        result = drift.compare(hists(mask), reference, rng=rng)
        batch_rows.append({"batch_id": int(batch_id), "name": names.get(batch_id, f"batch {batch_id}"),
                           "is_reference": is_ref, "hist": _hist_json(hists(mask)), "note": moved(result),
                           "result": {**result.as_dict(), "flagged": result.flagged and not is_ref}})
    slice_rows, flagged, masks = _slices(db, project_id, images, hists, reference, rng)
    body = {
        "version": 1, "threshold": drift.THRESHOLD, "min_images": drift.MIN_IMAGES,
        "distance": "standardized Wasserstein-1 (W1 / reference SD; colour shares / 0.04) per feature",
        "features": [{"name": f.name, "label": f.label, "lo": f.lo, "hi": f.hi, "bins": f.bins}
                     for f in drift.FEATURES],
        "reference": {"kind": "batch" if use_batch else "all", "batch_id": ref_batch.id if use_batch and ref_batch
                      else None, "name": ref_batch.name if use_batch and ref_batch else "all images",
                      "n": int(ref_mask.sum()), "hist": _hist_json(reference)},
        "n_images": len(images), "n_without_stats": len(original_images(db, project_id)) - len(images),
        "batches": batch_rows, "slices": slice_rows,
    }
    return DriftComputation(body, np.array([image.id for image in images], dtype=np.int64), masks, flagged)


def _slices(db: Session, project_id: int, images: list[Image], hists: Callable[[np.ndarray], dict[str, np.ndarray]],
            reference: dict[str, np.ndarray], rng: np.random.Generator,
            ) -> tuple[list[dict[str, Any]], dict[SliceKey, bool], dict[SliceKey, np.ndarray]]:
    # The slice page's dimensions, less the upload ones: batches are judged as batches above.
    dims = {k: v for k, v in dimensions(db, project_id, images).items()
            if k not in (DATE_DIMENSION, BATCH_DIMENSION, "upload batch")}
    results: dict[SliceKey, drift.DriftResult] = {}
    masks: dict[SliceKey, np.ndarray] = {}
    for key, mask in enumerate_slices(dims, min_size=drift.MIN_IMAGES):
        results[key] = drift.compare(hists(mask), reference, rng=rng)
        masks[key] = mask
    order = sorted((k for k, r in results.items() if r.flagged), key=lambda k: -results[k].distance)

    def rest_flagged(s: SliceKey, t: SliceKey) -> bool | None:
        if not (masks[s] & masks[t]).any():
            return None
        return drift.compare(hists(masks[s] & ~masks[t]), reference, rng=rng).flagged

    explained = drift.explained_by(order, rest_flagged)
    flagged = {key: r.flagged for key, r in results.items()}
    rows = []
    for key, result in sorted(results.items(), key=lambda kv: -kv[1].distance):
        rows.append({"key": [list(pair) for pair in key], "name": slice_key_name(key), "note": moved(result),
                     "explained_by": slice_key_name(explained[key]) if key in explained else None,
                     "hist": _hist_json(hists(masks[key])), "result": result.as_dict()})
    return rows, {key: flagged[key] and key not in explained for key in results}, masks


def moved(result: drift.DriftResult) -> str:
    """The significant features in words, e.g. "brightness 57 vs 71, contrast 47 vs 58"."""
    return ", ".join(f"{f.feature} {f.mean:.3g} vs {f.reference_mean:.3g}" for f in result.features if f.significant)


def run_drift(db: Session, *, storage: Storage, project_id: int, actor: User | None = None,
              progress: Progress | None = None) -> DriftReport:
    """Compute missing statistics, judge every batch and slice, store the report, raise the queue
    priority of drifted images. Safe to re-run; flushes, never commits (progress may checkpoint)."""
    ensure_image_stats(db, storage=storage, project_id=project_id,
                       progress=(lambda f, m: progress(0.8 * f, m)) if progress else None)
    computed = compute_drift(db, project_id)
    body, masks, image_ids, flagged = computed.body, computed.masks, computed.image_ids, computed.drifted
    boost: set[int] = set()
    for row in body["batches"]:
        batch = db.get(UploadBatch, row["batch_id"])
        if batch is not None:
            batch.stats = {**(batch.stats or {}), "drift": row["result"]}
        if row["result"]["flagged"]:
            boost |= set(db.scalars(select(Image.id).where(Image.batch_id == row["batch_id"],
                                                           Image.augmented_from_id.is_(None))))
    for key, is_flagged in flagged.items():
        if is_flagged:
            boost |= {int(i) for i in image_ids[masks[key]]}
    raised = 0
    ordered = sorted(boost)
    for start in range(0, len(ordered), 500):
        result = db.execute(update(Image).where(Image.id.in_(ordered[start:start + 500]),
                                                Image.priority < DRIFT_PRIORITY).values(priority=DRIFT_PRIORITY))
        raised += result.rowcount or 0  # type: ignore[attr-defined]
    body["raised_priority"] = raised
    n_flagged = sum(r["result"]["flagged"] for r in body["batches"]) + sum(flagged.values())
    report = DriftReport(project_id=project_id, reference_batch_id=body["reference"]["batch_id"],
                         n_images=body["n_images"], n_flagged=n_flagged, report=body,
                         created_by_id=actor.id if actor else None)
    db.add(report)
    db.flush()
    audit.record(db, action="analysis.drift_run", actor_id=actor.id if actor else None, project_id=project_id,
                 object_type="drift_report", object_id=report.id,
                 data={"flagged": n_flagged, "raised_priority": raised})
    if progress:
        progress(1.0, f"{n_flagged} drifted batches/slices")
    return report


def latest_report(db: Session, project_id: int) -> DriftReport | None:
    return db.scalar(select(DriftReport).where(DriftReport.project_id == project_id)
                     .order_by(DriftReport.id.desc()).limit(1))
