"""The global recompute of one project: read every live label once (streamed), fit Dawid–Skene and
the agreement figures, judge every labeled image with the fresh posterior, store labeler quality,
the near-duplicate groups' conflicts (and, when asked, the groups themselves) and a snapshot.

It never stalls a labeler: everything it reads comes from a snapshot that holds no lock
(db.read_only_session), the judging runs outside any write transaction, and the verdicts are written
BATCH images at a time, each batch followed by `progress(fraction, message)`, which may commit (a job
checkpoint). An image that got a new label after the snapshot is left as the labeler's submit made it
(that verdict is newer). Re-running from scratch converges to the same rows (every write is an
upsert), so a retried job is harmless.

Near-duplicate groups depend on the images, not on the labels: the search over signatures runs when
images change (`duplicates=True`, the job kind "consistency.duplicates"), and a label-triggered run
only re-checks whether each stored group's images still agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.consistency import groups, metrics, voice
from app.consistency.context import ProjectContext, load_context
from app.consistency.dawid_skene import DawidSkeneResult, dawid_skene
from app.consistency.gold import gold_accuracy
from app.consistency.judge import judge
from app.consistency.models import AgreementSnapshot, Conflict, ConflictState, LabelerQuality
from app.core.db import read_only_session
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import Project

BATCH = 100  # images written between two checkpoints: each write transaction stays a few ms long
KAPPA_MIN_SHARED = 20
MAX_KAPPA_PAIRS = 2000  # kept in the snapshot, most shared items first


@dataclass
class Labels:
    triples: metrics.Triples  # classification labels only (items: image codes, labelers: user codes)
    image_ids: np.ndarray  # item code -> image id (every image with a live annotation)
    user_ids: np.ndarray  # labeler code -> user id
    all_labeler: np.ndarray  # labeler code of every live annotation (with or without class)
    duration_ms: np.ndarray  # of every live annotation (NaN unknown)
    n_annotations: int
    max_annotation_id: int


def _no_progress(fraction: float, message: str) -> None:
    pass


def read_labels(db: Session, ctx: ProjectContext, chunk: int = 20_000) -> Labels:
    """Every live annotation of the project, streamed in chunks (server-side cursor on Postgres)."""
    query = (select(Annotation.id, Annotation.image_id, Annotation.labeler_id, Annotation.label_class_id,
                    Annotation.duration_ms)
             .join(Image, Image.id == Annotation.image_id)
             .where(Image.project_id == ctx.project.id, Annotation.superseded_by_id.is_(None))
             .execution_options(yield_per=chunk))
    parts = [np.array([tuple(-1 if v is None else v for v in row) for row in part], dtype=np.int64).reshape(-1, 5)
             for part in db.execute(query).partitions()]
    rows = np.concatenate(parts) if parts else np.zeros((0, 5), dtype=np.int64)
    lut = np.full(max([*ctx.class_ids, *ctx.mapping, 0]) + 2, -1, dtype=np.int64)
    for known in [*ctx.class_ids, *ctx.mapping]:
        code = ctx.code(known)
        lut[known] = -1 if code is None else code
    class_id = rows[:, 3]
    codes = np.where((class_id >= 0) & (class_id < lut.size - 1), lut[np.clip(class_id, 0, lut.size - 1)], -1)
    image_ids, item = np.unique(rows[:, 1], return_inverse=True)
    user_ids, labeler = np.unique(rows[:, 2], return_inverse=True)
    voted = codes >= 0
    triples = metrics.make_triples(item[voted], labeler[voted], codes[voted], n_items=image_ids.size,
                                   n_labelers=user_ids.size, n_classes=ctx.n_classes)
    duration = np.where(rows[:, 4] >= 0, rows[:, 4], np.nan).astype(float)
    return Labels(triples, image_ids, user_ids, labeler, duration, len(rows),
                  int(rows[:, 0].max()) if len(rows) else 0)


def run(db: Session, *, project_id: int, progress: Callable[[float, str], None] | None,
        store_verdicts: Callable[..., None], image_inputs: Callable[..., Any], duplicates: bool = True
        ) -> dict[str, Any]:
    report = progress or _no_progress
    clock = _Clock()
    project = db.get_one(Project, project_id)
    ctx = load_context(db, project)
    report(0.01, "reading labels")
    with read_only_session(db) as reader:
        labels = read_labels(reader, ctx)
    t = labels.triples
    clock.lap("read labels")
    report(0.05, f"fitting Dawid-Skene on {t.n_labels:,} labels")
    ds, model = _fit(db, ctx, labels)
    if ds is not None:
        _attach_estimates(ctx, ds, labels)
    figures = _figures(t, ds)
    clock.lap("maths")
    box_alpha = _judge_all(db, ctx, labels, ds, report, store_verdicts, image_inputs)
    clock.lap("judge images")
    report(0.8, "labeler quality")
    _store_quality(db, ctx, labels, ds)
    clock.lap("labeler quality")
    report(0.85, "near-duplicate groups")
    found = groups.sync_duplicate_groups(db, ctx) if duplicates else groups.sync_group_conflicts(db, ctx)
    db.flush()
    clock.lap("duplicates")
    summary = _summary(db, ctx, labels, ds, figures, box_alpha, found)
    if summary["ds"] is not None and model is not None:
        summary["ds"]["voice"] = model
    summary["seconds"] = round(sum(clock.laps.values()), 3)  # paces the next label-triggered run
    db.add(AgreementSnapshot(project_id=project_id, alpha=_finite(figures["alpha"]),
                             fleiss_kappa=figures["fleiss"].kappa, box_alpha=_finite(box_alpha),
                             n_images=int(t.n_items), n_annotations=labels.n_annotations, summary=summary))
    db.flush()
    report(1.0, "done")
    return {"project_id": project_id, "alpha": _finite(figures["alpha"]), "fleiss_kappa": figures["fleiss"].kappa,
            "box_alpha": _finite(box_alpha), "n_images": int(t.n_items), "n_annotations": labels.n_annotations,
            "conflicts": summary["conflicts"], "duplicate_groups": found["groups"],
            "seconds": clock.laps, "url": f"/projects/{project_id}/agreement"}


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _fit(db: Session, ctx: ProjectContext, labels: Labels) -> tuple[DawidSkeneResult | None, dict[str, Any] | None]:
    """Dawid–Skene over the people's labels, and the model voice's answers when the project has one
    (then also the voice's run, answers and confusion for the incremental path)."""
    t = labels.triples
    if not t.n_labels:
        return None, None
    run_id = voice.voice_run_id(ctx.project)
    with read_only_session(db) as reader:
        codes = voice.predicted_codes(reader, ctx, labels.image_ids.tolist()) if run_id is not None else {}
    if not codes:
        return dawid_skene(t), None
    ds, confusion, answers = voice.fit_with_voice(t, labels.image_ids, codes)
    return ds, {"run_id": run_id, "answers": answers, "confusion": np.round(confusion, 6).tolist()}


def _attach_estimates(ctx: ProjectContext, ds: DawidSkeneResult, labels: Labels) -> None:
    ctx.priors = ds.priors
    ctx.confusion = {int(u): ds.confusion[k] for k, u in enumerate(labels.user_ids)}
    ctx.mean_confusion = ds.confusion[ds.n_labels > 0].mean(axis=0) if (ds.n_labels > 0).any() else None


def _figures(t: metrics.Triples, ds: DawidSkeneResult | None) -> dict[str, Any]:
    counts = metrics.vote_counts(t)
    return {"counts": counts, "alpha": metrics.krippendorff_alpha(counts), "fleiss": metrics.fleiss_kappa(counts),
            "kappas": metrics.pairwise_cohen_kappa(t, min_shared=KAPPA_MIN_SHARED),
            "pairs": metrics.class_pair_disagreement(counts)}


def _judge_all(db: Session, ctx: ProjectContext, labels: Labels, ds: DawidSkeneResult | None,
               report: Callable[[float, str], None], store_verdicts: Callable[..., None],
               image_inputs: Callable[..., Any]) -> float:
    """Judge every labeled image in batches (read from a snapshot, judged outside any transaction,
    written in a short one); returns the box alpha over all clusters."""
    boxes = metrics.CoincidenceAccumulator(ctx.n_classes + 1)
    code_of = {int(i): k for k, i in enumerate(labels.image_ids)}
    total = labels.image_ids.size
    for start in range(0, total, BATCH):
        ids = labels.image_ids[start:start + BATCH].tolist()
        with read_only_session(db) as reader:
            images = reader.scalars(select(Image).where(Image.id.in_(ids)).order_by(Image.id)).all()
            inputs, history = image_inputs(reader, ctx, images)
        verdicts = {i: judge(inputs[i], ctx, ds.posterior[code_of[i]] if ds is not None else None) for i in inputs}
        for verdict in verdicts.values():
            if verdict.box_units is not None and len(verdict.box_units):
                boxes.add(verdict.box_units)
        current = _unchanged(db, inputs)
        store_verdicts(db, ctx, current, [verdicts[i] for i in current], history)
        db.flush()
        done = min(start + BATCH, total)
        report(0.1 + 0.7 * done / max(total, 1), f"judged {done:,} of {total:,} images")
    return boxes.alpha()


def _unchanged(db: Session, inputs: dict[int, Any]) -> list[int]:
    """The images whose live labels are still the ones judged (read now, in the write transaction)."""
    live: dict[int, set[int]] = {i: set() for i in inputs}
    for image_id, annotation_id in db.execute(select(Annotation.image_id, Annotation.id).where(
            Annotation.image_id.in_(list(inputs)), Annotation.superseded_by_id.is_(None))):
        live[image_id].add(annotation_id)
    return [i for i, given in inputs.items() if live[i] == {label.annotation_id for label in given.labels}]


def _store_quality(db: Session, ctx: ProjectContext, labels: Labels, ds: DawidSkeneResult | None) -> None:
    t = labels.triples
    existing = {q.user_id: q for q in db.scalars(select(LabelerQuality)
                                                 .where(LabelerQuality.project_id == ctx.project.id))}
    gold = _gold(db, ctx, labels)
    n_all = np.bincount(labels.all_labeler, minlength=labels.user_ids.size)
    agree = None
    if ds is not None and t.n_labels:
        hits = np.bincount(t.labeler, weights=(t.label == ds.consensus[t.item]), minlength=t.n_labelers)
        agree = np.divide(hits, ds.n_labels, out=np.full(t.n_labelers, np.nan), where=ds.n_labels > 0)
    for k, user_id in enumerate(labels.user_ids.tolist()):
        row = existing.get(user_id)
        if row is None:
            row = LabelerQuality(project_id=ctx.project.id, user_id=user_id)
            db.add(row)
        durations = labels.duration_ms[labels.all_labeler == k]
        durations = durations[np.isfinite(durations)]
        values = {
            "n_labels": int(n_all[k]),
            "accuracy": _finite(ds.accuracy[k]) if ds is not None else None,
            "agreement_with_consensus": _finite(agree[k]) if agree is not None else None,
            "gold_accuracy": _finite(gold.accuracy[k]) if gold is not None else None,
            "gold_count": int(gold.n_gold[k]) if gold is not None else 0,
            "median_duration_ms": float(np.median(durations)) if durations.size else None,
            "confusion": np.round(ds.confusion[k], 5).tolist() if ds is not None and ds.n_labels[k] else [],
            "class_ids": list(ctx.class_ids) if ds is not None and ds.n_labels[k] else [],
        }
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)


def _gold(db: Session, ctx: ProjectContext, labels: Labels) -> Any:
    rows = db.execute(select(Image.id, Image.gold_label_class_id).where(
        Image.project_id == ctx.project.id, Image.is_gold.is_(True), Image.gold_label_class_id.is_not(None))).all()
    code_of = {int(i): k for k, i in enumerate(labels.image_ids)}
    known = [(code_of[i], ctx.code(c)) for i, c in rows if i in code_of and ctx.code(c) is not None]
    if not known:
        return None
    items, classes = zip(*known, strict=True)
    return gold_accuracy(labels.triples, list(items), list(classes))


def _summary(db: Session, ctx: ProjectContext, labels: Labels, ds: DawidSkeneResult | None,
             figures: dict[str, Any], box_alpha: float, duplicates: dict[str, Any]) -> dict[str, Any]:
    t, kappas, pairs = labels.triples, figures["kappas"], figures["pairs"]
    order = np.argsort(-kappas.n_shared, kind="stable")[:MAX_KAPPA_PAIRS]
    per_item = np.bincount(t.item, minlength=t.n_items) if t.n_items else np.zeros(0)
    open_kinds = dict(db.execute(select(Conflict.kind, func.count()).where(
        Conflict.project_id == ctx.project.id, Conflict.state.in_([ConflictState.open, ConflictState.returned]))
        .group_by(Conflict.kind)).all())
    return {
        "class_ids": ctx.class_ids, "class_names": ctx.names,
        "ds": None if ds is None else {
            "class_ids": ctx.class_ids, "priors": np.round(ds.priors, 6).tolist(), "iterations": ds.iterations,
            "converged": ds.converged, "mean_confusion": np.round(ctx.mean_confusion, 6).tolist()
            if ctx.mean_confusion is not None else None},
        "fleiss_reason": figures["fleiss"].reason,
        "kappa_min_shared": KAPPA_MIN_SHARED,
        "kappas": [{"a": int(labels.user_ids[kappas.labeler_a[i]]), "b": int(labels.user_ids[kappas.labeler_b[i]]),
                    "n": int(kappas.n_shared[i]), "kappa": _finite(kappas.kappa[i])} for i in order],
        "class_pairs": {"rate": np.round(pairs.rate, 5).tolist(), "share": np.round(pairs.share, 5).tolist(),
                        "items_split": pairs.items_split.tolist()},
        "top_pairs": [{"a": ctx.class_ids[a], "b": ctx.class_ids[b], "rate": round(v, 5),
                       "share": round(float(pairs.share[a, b]), 5), "items": int(pairs.items_split[a, b])}
                      for a, b, v in pairs.top_pairs(5) if v > 0],
        "labels_per_image": {"min": int(per_item.min()) if per_item.size else 0,
                             "max": int(per_item.max()) if per_item.size else 0,
                             "mean": round(float(per_item.mean()), 3) if per_item.size else 0.0},
        "box_alpha": _finite(box_alpha),
        "conflicts": {k: int(n) for k, n in sorted(open_kinds.items())},
        "duplicates": duplicates,
        "max_annotation_id": labels.max_annotation_id,
    }
