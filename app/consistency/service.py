"""The consistency service: raw annotations in, consensus, conflicts, labeler quality and agreement out.

Two paths through the same judgement (judge.py) and the same writer (writer.py):
- `on_new_annotation`: this image only, in the submitting request (a few milliseconds), with the
  per-labeler confusions of the last global run when there is one;
- `recompute_project`: every image, with a fresh Dawid–Skene fit, plus the project figures, labeler
  quality, near-duplicate groups and a snapshot for the trend; run by `concord consistency`, by the job
  kind "consistency.recompute" and automatically after enough new labels (`schedule_recompute_if_due`,
  paced, and then without searching the near-duplicate groups again: labels do not change them);
- `refresh_duplicates`: the near-duplicate search, queued a few seconds after images are added
  (`schedule_duplicates`, job kind "consistency.duplicates").
Services flush and never commit (progress callbacks may checkpoint, see recompute.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.consistency import groups, recompute, voice
from app.consistency.context import ProjectContext, latest_snapshot, load_context, load_estimates
from app.consistency.judge import IMAGE_KINDS, ImageInput, Label, judge
from app.consistency.models import Conflict, ConflictState
from app.consistency.writer import MANUAL_KINDS, load_existing, newer_label_disagrees, store
from app.core.db import utcnow
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import Project
from app.review.models import Resolution

Progress = Callable[[float, str], None]
JOB_KIND = "consistency.recompute"
DUPLICATES_JOB_KIND = "consistency.duplicates"
DUPLICATES_DELAY = timedelta(seconds=5)  # uploads arrive in bursts: one search after the burst
RECOMPUTE_EVERY = 200  # new labels between global runs; project.settings["recompute_every"] overrides
RECOMPUTE_MIN_SECONDS = 60.0  # a label-triggered run is never closer than this to the last one
RECOMPUTE_PAUSE_FACTOR = 9.0  # ... nor than 9x its duration: the background takes at most ~10% of the time
CHECK_EVERY = 20  # look at that count on every 20th annotation id only (a cheap, approximate counter)
STORED_KINDS = (*IMAGE_KINDS, *MANUAL_KINDS)  # the writer keeps a flag open, and reopens it after relabels


def on_new_annotation(db: Session, annotation: Annotation) -> None:
    """Refresh the annotation's image: consensus, box clusters, conflicts, automatic final label.
    Everything it writes happens inside one savepoint: when it raises, the caller's transaction is
    as it was (the labeling service logs the error and keeps the answer)."""
    image = db.get_one(Image, annotation.image_id)
    project = db.get_one(Project, image.project_id)
    for attempt in range(2):  # a parallel submit on the same image may insert the same rows first
        try:
            with db.begin_nested():
                refresh_image(db, project, image)
                if annotation.id % CHECK_EVERY == 0:
                    schedule_recompute_if_due(db, project_id=project.id)
            break
        except (IntegrityError, StaleDataError):
            if attempt:
                raise


def refresh_image(db: Session, project: Project, image: Image) -> None:
    """Judge one image with the stored estimates and store the verdict (flushes)."""
    ctx = load_context(db, project)
    inputs, history = image_inputs(db, ctx, [image])
    load_estimates(db, ctx, [label.labeler_id for label in inputs[image.id].labels])
    judge_and_store(db, ctx, [image.id], inputs, history, posteriors=None)
    db.flush()


def judge_and_store(db: Session, ctx: ProjectContext, image_ids: Sequence[int], inputs: dict[int, ImageInput],
                    history: dict[int, list[tuple[datetime | None, int | None]]],
                    posteriors: dict[int, np.ndarray] | None) -> list[Any]:
    """Judge and store a batch of images; returns their verdicts (for box agreement)."""
    verdicts = [judge(inputs[i], ctx, posteriors.get(i) if posteriors else None) for i in image_ids]
    store_verdicts(db, ctx, image_ids, verdicts, history)
    return verdicts


def store_verdicts(db: Session, ctx: ProjectContext, image_ids: Sequence[int], verdicts: Sequence[Any],
                   history: dict[int, list[tuple[datetime | None, int | None]]]) -> None:
    """Store each image's verdict (consensus, conflicts, automatic final label); flushes nothing."""
    existing = load_existing(db, project_id=ctx.project.id, image_ids=image_ids, kinds=STORED_KINDS)
    decisions = _Decisions(db, history)
    for image_id, verdict in zip(image_ids, verdicts, strict=True):
        store(db, project_id=ctx.project.id, image_id=image_id, verdict=verdict, existing=existing,
              kinds=STORED_KINDS, reopen=decisions.reopens, restore=decisions.restores)


_LIVE_LABELS = (select(Annotation.id, Annotation.image_id, Annotation.labeler_id, Annotation.label_class_id,
                       Annotation.boxes, Annotation.created_at)
                .where(Annotation.image_id.in_(bindparam("ids", expanding=True)), Annotation.superseded_by_id.is_(None))
                .order_by(Annotation.image_id, Annotation.labeler_id))  # built once: judged on every submit


def image_inputs(db: Session, ctx: ProjectContext, images: Sequence[Image]
                 ) -> tuple[dict[int, ImageInput], dict[int, list[tuple[datetime | None, int | None]]]]:
    """Each image's live labels in codes, and (created_at, current class id) per label for the
    reviewer-decision check."""
    ids = [image.id for image in images]
    labels: dict[int, list[Label]] = {i: [] for i in ids}
    history: dict[int, list[tuple[datetime | None, int | None]]] = {i: [] for i in ids}
    rows = db.execute(_LIVE_LABELS, {"ids": ids})
    for ann_id, image_id, labeler_id, class_id, boxes, created_at in rows:
        code = ctx.code(class_id)
        xywh, box_codes = _boxes_in_codes(boxes or [], ctx)
        labels[image_id].append(Label(ann_id, labeler_id, code, xywh, box_codes))
        history[image_id].append((created_at, ctx.class_ids[code] if code is not None else None))
    model = voice.predicted_codes(db, ctx, ids)
    inputs = {image.id: ImageInput(image_id=image.id, labels=labels[image.id], labels_wanted=image.labels_wanted,
                                   gold_code=ctx.code(image.gold_label_class_id) if image.is_gold else None,
                                   gold_boxes=list(image.gold_boxes or []), model_code=model.get(image.id))
              for image in images}
    return inputs, history


def _boxes_in_codes(boxes: list[dict[str, Any]], ctx: ProjectContext) -> tuple[np.ndarray, np.ndarray]:
    xywh, codes = [], []
    for box in boxes:
        code = ctx.code(box.get("class_id"))
        try:
            values = [float(box[k]) for k in ("x", "y", "w", "h")]
        except (KeyError, TypeError, ValueError):
            continue  # stored boxes were validated on submit; never let one bad row stop the service
        if code is not None:
            xywh.append(values)
            codes.append(code)
    return np.asarray(xywh, dtype=float).reshape(-1, 4), np.asarray(codes, dtype=np.int64)


class _Decisions:
    """The reviewer's standing decision per image, loaded once per batch, for the writer's two
    questions (see writer.py): does a resolved conflict reopen, does a reopened one go back?"""

    def __init__(self, db: Session, history: dict[int, list[tuple[datetime | None, int | None]]]) -> None:
        self.db, self.history = db, history
        self.standing: dict[int, tuple[Any, Resolution | None] | None] = {}

    def _of(self, image_id: int) -> tuple[Any, Resolution | None] | None:
        from app.review import service as review_service

        if image_id not in self.standing:
            decided = review_service.decision_for_image(self.db, image_id)
            resolution = self.db.get(Resolution, decided.resolution_id) if decided and decided.resolution_id else None
            self.standing[image_id] = (decided, resolution) if decided is not None else None
        return self.standing[image_id]

    def _contradicted(self, conflict: Conflict, since: datetime | None) -> bool | None:
        """None: no standing decision on the image; else whether a label newer than it disagrees."""
        standing = self._of(conflict.image_id) if conflict.image_id is not None else None
        if standing is None:
            return None
        decided, resolution = standing
        return newer_label_disagrees(decided.label_class_id, decided.is_ambiguous,
                                     self.history.get(conflict.image_id, []),  # type: ignore[arg-type]
                                     resolution.created_at if resolution is not None else since)

    def reopens(self, conflict: Conflict) -> bool:
        return bool(self._contradicted(conflict, conflict.resolved_at))

    def restores(self, conflict: Conflict) -> tuple[ConflictState, datetime] | None:
        standing = self._of(conflict.image_id) if conflict.image_id is not None else None
        if standing is None:
            return None
        decided, resolution = standing
        if resolution is None or resolution.conflict_id != conflict.id:
            return None  # only the conflict the reviewer decided goes back to the decision
        if self._contradicted(conflict, None):
            return None
        return (ConflictState.ambiguous if decided.is_ambiguous else ConflictState.resolved), resolution.created_at


def recompute_project(db: Session, *, project_id: int, progress: Progress | None = None,
                      duplicates: bool = True) -> dict[str, Any]:
    """The global pass (see recompute.py): safe to re-run from scratch; returns the summary.
    `duplicates=False` keeps the stored near-duplicate groups (only their conflicts are re-checked):
    the groups depend on the images, not on the labels."""
    return recompute.run(db, project_id=project_id, progress=progress, store_verdicts=store_verdicts,
                         image_inputs=image_inputs, duplicates=duplicates)


def set_model_voice(db: Session, *, project: Project, run: Any, created_by: Any = None) -> Any:
    """Make a finished run of the project one more voice in consensus, or none (`run` None), and
    recompute: queued as a job when workers are available (returns it), else run now (returns None)."""
    voice.set_voice(db, project, run)
    job = schedule_recompute(db, project_id=project.id, created_by=created_by, duplicates=False,
                             settings_changed=True)
    if job is None:
        recompute_project(db, project_id=project.id, duplicates=False)
    return job


# --- the background trigger -------------------------------------------------------------------------

def labels_since_last_run(db: Session, *, project_id: int) -> int:
    snapshot = latest_snapshot(db, project_id)
    last_id = int((snapshot.summary or {}).get("max_annotation_id", 0)) if snapshot else 0
    return db.scalar(select(func.count(Annotation.id)).join(Image, Image.id == Annotation.image_id)
                     .where(Image.project_id == project_id, Annotation.id > last_id)) or 0


def recompute_due(db: Session, *, project_id: int) -> bool:
    """RECOMPUTE_EVERY new labels since the last run, and the background share bounded: the next run
    starts no sooner than RECOMPUTE_MIN_SECONDS, and RECOMPUTE_PAUSE_FACTOR times the last run's own
    duration, after the last one (project.settings "recompute_every", "recompute_min_seconds")."""
    project = db.get_one(Project, project_id)
    settings = project.settings or {}
    every = int(settings.get("recompute_every", RECOMPUTE_EVERY))
    if every <= 0:
        return False
    snapshot = latest_snapshot(db, project_id)
    if snapshot is not None:
        took = float((snapshot.summary or {}).get("seconds", 0.0))
        pause = max(float(settings.get("recompute_min_seconds", RECOMPUTE_MIN_SECONDS)), RECOMPUTE_PAUSE_FACTOR * took)
        if utcnow() < snapshot.created_at + timedelta(seconds=pause):
            return False
    return labels_since_last_run(db, project_id=project_id) >= every


def schedule_recompute(db: Session, *, project_id: int, created_by: Any = None, duplicates: bool = True,
                       settings_changed: bool = False) -> Any:
    """Queue a global recompute unless one is already queued or running; returns the job (or None
    when the job kind is not available). `duplicates`: search the near-duplicate groups again too
    (a person asking for a recompute gets everything; the label-triggered run does not need it).
    `settings_changed`: a running one does not count (it read the project's settings before)."""
    from app.jobs import service as jobs
    from app.jobs.models import Job, JobState
    from app.jobs.registry import load_kinds

    if JOB_KIND not in load_kinds():
        return None
    waiting = db.scalar(select(Job).where(Job.project_id == project_id, Job.kind == JOB_KIND,
                                          Job.state.in_([JobState.queued] if settings_changed
                                                        else [JobState.queued, JobState.running])).limit(1))
    if waiting is not None:
        if duplicates and waiting.state == JobState.queued and not waiting.payload.get("duplicates", True):
            waiting.payload = {**waiting.payload, "duplicates": True}
        return waiting
    return jobs.enqueue(db, kind=JOB_KIND, project_id=project_id, payload={"duplicates": duplicates},
                        created_by=created_by)


def schedule_recompute_if_due(db: Session, *, project_id: int) -> Any:
    if not recompute_due(db, project_id=project_id):
        return None
    return schedule_recompute(db, project_id=project_id, duplicates=False)


def schedule_duplicates(db: Session, *, project_id: int) -> Any:
    """Images of the project changed: queue one search for near-duplicate groups a few seconds from
    now, unless one is already waiting (a running one does not count: it may have missed these)."""
    from app.jobs import service as jobs
    from app.jobs.models import Job, JobState
    from app.jobs.registry import load_kinds

    if DUPLICATES_JOB_KIND not in load_kinds():
        return None
    waiting = db.scalar(select(Job).where(Job.project_id == project_id, Job.kind == DUPLICATES_JOB_KIND,
                                          Job.state == JobState.queued).limit(1))
    if waiting is not None:
        return waiting
    return jobs.enqueue(db, kind=DUPLICATES_JOB_KIND, project_id=project_id, payload={},
                        run_after=utcnow() + DUPLICATES_DELAY)


def refresh_duplicates(db: Session, *, project_id: int) -> dict[str, Any]:
    """Search the project's near-duplicate groups and open or close their conflicts (flushes)."""
    ctx = load_context(db, db.get_one(Project, project_id))
    found = groups.sync_duplicate_groups(db, ctx)
    db.flush()
    return found


# --- adaptive overlap -------------------------------------------------------------------------------

SLICE_MIN_IMAGES = 20


def slice_needs_overlap(db: Session, *, project_id: int, meta: dict[str, Any]) -> bool:
    """Whether images of this metadata slice (e.g. {"line": "L3", "shift": "night"}) deserve more
    labels: among images with two or more labels, the slice's share with a class disagreement is at
    least 1.5 x the project's and 5 points above it, over at least SLICE_MIN_IMAGES images."""
    from app.consistency.models import ConflictKind, ImageConsensus

    def rates(*conditions: Any) -> tuple[int, int]:
        base = (select(func.count(ImageConsensus.image_id)).join(Image, Image.id == ImageConsensus.image_id)
                .where(Image.project_id == project_id, ImageConsensus.n_labels >= 2, *conditions))
        disputed = base.where(select(Conflict.id).where(Conflict.image_id == Image.id,
                                                        Conflict.kind == ConflictKind.class_disagreement).exists())
        return db.scalar(base) or 0, db.scalar(disputed) or 0

    in_slice = [Image.meta[key].as_string() == str(value) for key, value in meta.items()]
    n_slice, bad_slice = rates(*in_slice)
    if not in_slice or n_slice < SLICE_MIN_IMAGES:
        return False
    n_all, bad_all = rates()
    slice_rate, project_rate = bad_slice / n_slice, bad_all / max(n_all, 1)
    return slice_rate >= 1.5 * project_rate and slice_rate >= project_rate + 0.05
