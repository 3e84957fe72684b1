"""One image's verdict from its live labels: consensus, the conflicts it should have, its final label.

Pure given its inputs (no queries): the incremental path judges one image with the stored estimates,
the global recompute judges every image with a fresh Dawid–Skene posterior, through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.consistency import severity
from app.consistency.boxes import BoxCluster, ImageBoxes, cluster_image, cluster_value_counts
from app.consistency.context import ProjectContext
from app.consistency.dawid_skene import item_posterior
from app.consistency.metrics import majority, vote_entropy
from app.consistency.models import ConflictKind
from app.projects.naming import is_ok_name

# The kinds this service opens and closes on an image (model disagreements belong to the analysis).
IMAGE_KINDS = (ConflictKind.class_disagreement, ConflictKind.low_confidence, ConflictKind.gold_miss,
               ConflictKind.missing_box, ConflictKind.box_class_mismatch, ConflictKind.box_localization)


@dataclass(frozen=True)
class Label:
    """One live annotation, in codes."""

    annotation_id: int
    labeler_id: int
    code: int | None  # image class
    boxes: np.ndarray  # (n, 4) xywh pixels
    box_codes: np.ndarray  # (n,) class codes


@dataclass(frozen=True)
class ImageInput:
    image_id: int
    labels: list[Label]
    labels_wanted: int = 1
    gold_code: int | None = None  # the known class of a gold image
    gold_boxes: list[dict[str, Any]] = field(default_factory=list)
    model_code: int | None = None  # the model voice's class for this image (see voice.py), if on


@dataclass
class Verdict:
    consensus: dict[str, Any]  # ImageConsensus columns
    conflicts: dict[str, tuple[float, dict[str, Any]]]  # kind -> (severity, details)
    final: dict[str, Any] | None  # FinalLabel columns, or None: no automatic final label
    box_units: np.ndarray | None = None  # cluster value counts, for the project's box alpha


def judge(image: ImageInput, ctx: ProjectContext, posterior: np.ndarray | None = None) -> Verdict:
    """`posterior`: this image's Dawid–Skene posterior from a global run; without it the stored
    per-labeler confusions are used when there are any, else the vote shares."""
    voted = [lab for lab in image.labels if lab.code is not None]
    k = ctx.n_classes
    counts = np.bincount(np.array([lab.code for lab in voted], dtype=np.int64), minlength=k)[None, :]
    votes = majority(counts)
    entropy = float(vote_entropy(counts)[0]) if voted else None
    method = "dawid_skene"
    if not voted:
        post = np.zeros(k)
    elif posterior is None:
        post, method = _incremental_posterior(voted, ctx, counts[0], image.model_code)
    else:
        post = np.asarray(posterior, dtype=float)
    consensus_code = int(np.argmax(post)) if voted else None
    confidence = float(post[consensus_code]) if consensus_code is not None else None
    boxes = _boxes(image, ctx)
    verdict = Verdict(
        consensus={
            "n_labels": len(voted), "majority_class_id": _cid(ctx, votes.label[0]) if voted else None,
            "consensus_class_id": _cid(ctx, consensus_code), "confidence": confidence, "entropy": entropy,
            "posterior": {str(ctx.class_ids[c]): round(float(p), 6) for c, p in enumerate(post) if p >= 1e-4},
            "box_agreement": None if boxes is None or np.isnan(boxes.score) else round(boxes.score, 4),
            "clusters": [_cluster_json(c, ctx) for c in boxes.clusters] if boxes else [],
            "method": method,
        },
        conflicts={}, final=None,
        box_units=cluster_value_counts(boxes, k) if boxes and boxes.labelers.size >= 2 else None,
    )
    _class_conflicts(verdict, voted, counts[0], consensus_code, confidence, entropy, ctx, image.labels_wanted)
    _gold_conflict(verdict, image, voted, ctx)
    if boxes is not None and boxes.labelers.size >= 2:
        _box_conflicts(verdict, boxes, ctx)
    verdict.final = _final(verdict, image, voted, counts[0], boxes, ctx)
    return verdict


def _cid(ctx: ProjectContext, code: int | None) -> int | None:
    return ctx.class_ids[int(code)] if code is not None and code >= 0 else None


def _incremental_posterior(voted: list[Label], ctx: ProjectContext, counts: np.ndarray,
                           model_code: int | None = None) -> tuple[np.ndarray, str]:
    if ctx.priors is None or ctx.mean_confusion is None:
        return counts / counts.sum(), "majority"
    labelers = np.array([lab.labeler_id for lab in voted])
    matrices = [ctx.confusion.get(int(u), ctx.mean_confusion) for u in labelers]
    answers = [lab.code for lab in voted]
    if model_code is not None and ctx.voice_confusion is not None:
        matrices.append(ctx.voice_confusion)
        answers.append(model_code)
    post = item_posterior(np.arange(len(answers)), np.array(answers), confusion=np.stack(matrices),
                          priors=ctx.priors)
    return post, "dawid_skene"


def _boxes(image: ImageInput, ctx: ProjectContext) -> ImageBoxes | None:
    if not ctx.boxes_enabled or not image.labels:
        return None
    parts = [(lab.boxes, lab.box_codes, np.full(len(lab.box_codes), lab.labeler_id)) for lab in image.labels]
    xywh = np.concatenate([p[0] for p in parts]).reshape(-1, 4)
    codes = np.concatenate([p[1] for p in parts]).astype(np.int64)
    owners = np.concatenate([p[2] for p in parts]).astype(np.int64)
    return cluster_image(xywh, codes, owners, [lab.labeler_id for lab in image.labels], ctx.box_params)


def _cluster_json(c: BoxCluster, ctx: ProjectContext) -> dict[str, Any]:
    x, y, w, h = (round(float(v), 2) for v in c.consensus)
    return {"x": x, "y": y, "w": w, "h": h, "class_id": ctx.class_ids[c.consensus_class],
            "support": round(c.support, 4), "labelers": c.labelers.tolist(), "missing": c.missing.tolist(),
            "classes": [ctx.class_ids[int(k)] for k in c.classes], "class_agreement": round(c.class_agreement, 4),
            "iou": [round(float(v), 4) for v in c.iou], "iou_tolerant": [round(float(v), 4) for v in c.iou_tolerant]}


def _votes_text(counts: np.ndarray, ctx: ProjectContext) -> str:
    order = sorted((c for c in range(len(counts)) if counts[c]), key=lambda c: (-counts[c], c))
    return ", ".join(f"{ctx.name(c)} ({counts[c]})" for c in order)


def _class_conflicts(v: Verdict, voted: list[Label], counts: np.ndarray, code: int | None,
                     confidence: float | None, entropy: float | None, ctx: ProjectContext, wanted: int) -> None:
    if code is None or confidence is None:
        return
    k = ctx.n_classes
    if np.count_nonzero(counts) > 1:
        by_class: dict[str, list[int]] = {}
        for lab in voted:
            by_class.setdefault(str(ctx.class_ids[lab.code]), []).append(lab.labeler_id)  # type: ignore[index]
        v.conflicts[ConflictKind.class_disagreement] = (
            severity.class_disagreement(confidence=confidence, entropy=entropy or 0.0, n_classes=k),
            {"votes": {str(ctx.class_ids[c]): int(n) for c, n in enumerate(counts) if n}, "labelers": by_class,
             "consensus_class_id": ctx.class_ids[code], "confidence": round(confidence, 4),
             "reason": f"{len(voted)} labels disagree: {_votes_text(counts, ctx)}; "
                       f"consensus {ctx.name(code)} at {confidence:.0%}"})
    elif confidence < ctx.project.confidence_threshold and len(voted) >= wanted:  # judged once complete
        v.conflicts[ConflictKind.low_confidence] = (
            severity.low_confidence(confidence=confidence, n_classes=k),
            {"consensus_class_id": ctx.class_ids[code], "confidence": round(confidence, 4),
             "threshold": ctx.project.confidence_threshold, "labelers": [lab.labeler_id for lab in voted],
             "reason": f"{len(voted)} label(s) for {ctx.name(code)}, but the consensus is only {confidence:.0%} sure "
                       f"(threshold {ctx.project.confidence_threshold:.0%})"})


def _gold_conflict(v: Verdict, image: ImageInput, voted: list[Label], ctx: ProjectContext) -> None:
    if image.gold_code is None or not voted:
        return
    wrong = [lab for lab in voted if lab.code != image.gold_code]
    if wrong:
        share = len(wrong) / len(voted)
        v.conflicts[ConflictKind.gold_miss] = (
            severity.gold_miss(wrong_share=share),
            {"gold_class_id": ctx.class_ids[image.gold_code],
             "wrong": [{"labeler_id": lab.labeler_id, "class_id": ctx.class_ids[lab.code]} for lab in wrong],  # type: ignore[index]
             "reason": f"gold image is {ctx.name(image.gold_code)}; {len(wrong)} of {len(voted)} answered otherwise"})


def _box_conflicts(v: Verdict, boxes: ImageBoxes, ctx: ProjectContext) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    worst: dict[str, float] = {}
    for f in boxes.findings:
        c = boxes.clusters[f.cluster]
        entry = {"cluster": f.cluster, "box": [round(float(x), 1) for x in c.consensus],
                 "class_id": ctx.class_ids[c.consensus_class], "labelers": list(f.labelers), "value": round(f.value, 4)}
        by_kind.setdefault(f.kind, []).append(entry)
        if f.kind == "missing_box":
            sev = severity.missing_box(support=f.value)
        elif f.kind == "box_class_mismatch":
            sev = severity.box_class_mismatch(class_agreement=f.value)
        else:
            sev = severity.box_localization(worst_iou=f.value)
        worst[f.kind] = max(worst.get(f.kind, 0.0), sev)
    reasons = {"missing_box": "not drawn by every labeler", "box_class_mismatch": "given different classes",
               "box_localization": f"under IoU {ctx.box_params.localization_iou:g} with the consensus box"}
    for kind, entries in by_kind.items():
        n = len(entries)
        v.conflicts[kind] = (worst[kind], {"clusters": entries,
                                           "reason": f"{n} box{'es' if n != 1 else ''} {reasons[kind]}"})


def _final(v: Verdict, image: ImageInput, voted: list[Label], counts: np.ndarray, boxes: ImageBoxes | None,
           ctx: ProjectContext) -> dict[str, Any] | None:
    """Gold images take their known answer. Otherwise a final label is written only when every
    wanted label is in and nothing is in dispute: `unanimous` when two or more labels agree on
    everything, `consensus` for a single label. A boxes-only project (no image class) counts every
    answer and decides its boxes alone."""
    if image.gold_code is not None:
        return {"label_class_id": ctx.class_ids[image.gold_code], "boxes": list(image.gold_boxes),
                "source": "gold", "confidence": 1.0}
    answers = voted if voted or not ctx.boxes_enabled else image.labels
    if not answers or len(answers) < max(1, image.labels_wanted) or v.conflicts:
        return None
    code = int(np.argmax(counts)) if voted else None
    final_boxes = [{k: c[k] for k in ("x", "y", "w", "h", "class_id")} for c in v.consensus["clusters"]]
    if code is not None and is_ok_name(ctx.name(code)):
        final_boxes = []  # an ok image has no boxes (the answers keep whatever was drawn)
    return {"label_class_id": ctx.class_ids[code] if code is not None else None, "boxes": final_boxes,
            "source": "unanimous" if len(answers) >= 2 else "consensus", "confidence": v.consensus["confidence"]}
