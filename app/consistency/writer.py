"""Store a verdict: the image's consensus row, its conflicts' lifecycle, its automatic final label.

Conflict lifecycle, per (image, kind) — one row, reused, so history and resolutions stay attached:
- wanted and absent -> a new `open` row; wanted and `open` -> severity and details refreshed;
- `returned` (sent back to labelers) -> refreshed, and `open` again once no relabel is pending (or
  back to its decision's state, as below, when it was decided and no newer label disagrees);
- `closed` -> `open` again (the disagreement came back);
- `resolved` / `ambiguous` -> left alone, unless a label newer than the decision disagrees with it
  (review.service.agrees_with_decision is False; an ambiguous decision agrees with nothing) -> `open`;
- `open` again after a decision on this very conflict, and no label newer than the decision disagrees
  with it any more (the labeler who disagreed came round) -> back to the decision's state: a decision
  stops sticking only while there is a reason;
- not wanted any more and `open` / `returned` -> `closed`; a reviewer's states are never closed.
- a kind a person opens (MANUAL_KINDS: `flagged`) is never wanted nor closed by a verdict, however much
  the labelers agree: only a decision settles it. Once sent back, it is `open` again when no relabel is
  pending; once decided, `open` again when a label newer than the decision disagrees with it (never
  restored on its own: a reviewer may flag the image again after a decision).
Final labels: a reviewer's (`review`, or ambiguous) is never overwritten; an automatic one
(`unanimous`, `consensus`, `gold`) follows the verdict, and is removed when the image is in dispute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.consistency.judge import Verdict
from app.consistency.models import Conflict, ConflictKind, ConflictState, ImageConsensus
from app.core.db import utcnow
from app.review.models import FinalLabel, FinalLabelSource

AUTOMATIC = (FinalLabelSource.unanimous, FinalLabelSource.consensus, FinalLabelSource.gold)
MANUAL_KINDS = (ConflictKind.flagged,)
Reopen = Callable[[Conflict], bool]
Restore = Callable[[Conflict], tuple[ConflictState, datetime] | None]  # the decision's state and time, or None


@dataclass
class Existing:
    """The stored rows of a batch of images, loaded in a few queries."""

    conflicts: dict[int, dict[str, Conflict]]  # image id -> kind -> row
    consensus: dict[int, ImageConsensus]
    finals: dict[int, FinalLabel]
    pending_returns: set[int]  # images with a relabel request not answered yet


# Built once: a submit judges its image on every request, and building a statement (and its cache
# key) costs more than running it. `ids` and `kinds` are expanding parameters.
_IDS: Any = bindparam("ids", expanding=True)
_KINDS: Any = bindparam("kinds", expanding=True)
_CONFLICTS = select(Conflict).where(Conflict.project_id == bindparam("project_id"), Conflict.image_id.in_(_IDS),
                                    Conflict.kind.in_(_KINDS))
_CONSENSUS = select(ImageConsensus).where(ImageConsensus.image_id.in_(_IDS))
_FINALS = select(FinalLabel).where(FinalLabel.image_id.in_(_IDS))


@lru_cache(maxsize=1)
def _pending_returns() -> Any:
    from app.labeling.models import Assignment, AssignmentState

    returned = Assignment.state == AssignmentState.returned
    return select(Assignment.image_id).where(Assignment.image_id.in_(_IDS), returned)


def load_existing(db: Session, *, project_id: int, image_ids: Sequence[int], kinds: Sequence[str]) -> Existing:
    ids = list(image_ids)
    conflicts: dict[int, dict[str, Conflict]] = {i: {} for i in ids}
    for row in db.scalars(_CONFLICTS, {"project_id": project_id, "ids": ids, "kinds": list(kinds)}):
        conflicts[row.image_id][row.kind] = row  # type: ignore[index]
    consensus = {r.image_id: r for r in db.scalars(_CONSENSUS, {"ids": ids})}
    finals = {r.image_id: r for r in db.scalars(_FINALS, {"ids": ids})}
    pending = set(db.scalars(_pending_returns(), {"ids": ids}))
    return Existing(conflicts, consensus, finals, pending)


def store(db: Session, *, project_id: int, image_id: int, verdict: Verdict, existing: Existing,
          kinds: Sequence[str], reopen: Reopen, restore: Restore | None = None) -> dict[str, int]:
    """Write one image's verdict; returns how many conflicts were opened/updated/closed/reopened/restored."""
    _store_consensus(db, image_id, verdict, existing.consensus.get(image_id))
    changes = sync_conflicts(db, project_id=project_id, subject={"image_id": image_id},
                             subject_key=f"image:{image_id}", desired=verdict.conflicts,
                             rows=existing.conflicts.get(image_id, {}), kinds=kinds, reopen=reopen,
                             restore=restore, waiting=image_id in existing.pending_returns)
    _store_final(db, image_id, verdict.final, existing.finals.get(image_id))
    return changes


def _store_consensus(db: Session, image_id: int, verdict: Verdict, row: ImageConsensus | None) -> None:
    if row is None:
        db.add(ImageConsensus(image_id=image_id, **verdict.consensus))
        return
    for key, value in verdict.consensus.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


def sync_conflicts(db: Session, *, project_id: int, subject: dict[str, Any], subject_key: str,
                   desired: dict[str, tuple[float, dict[str, Any]]], rows: dict[str, Conflict], kinds: Sequence[str],
                   reopen: Reopen, restore: Restore | None = None, waiting: bool = False) -> dict[str, int]:
    changes = {"opened": 0, "updated": 0, "reopened": 0, "closed": 0, "restored": 0}
    now = utcnow()
    for kind in kinds:
        row, wanted = rows.get(kind), desired.get(kind)
        if kind in MANUAL_KINDS:
            if row is not None and _manual_reopens(row, reopen, waiting):
                row.state, row.resolved_at = ConflictState.open, None
                changes["reopened"] += 1
            continue
        if wanted is None:
            if row is not None and row.state in (ConflictState.open, ConflictState.returned):
                row.state, row.resolved_at = ConflictState.closed, now
                changes["closed"] += 1
            continue
        severity, details = wanted
        if row is None:
            db.add(Conflict(project_id=project_id, subject_key=subject_key, kind=kind, severity=severity,
                            details=details, state=ConflictState.open, **subject))
            changes["opened"] += 1
            continue
        state = row.state
        if state in (ConflictState.resolved, ConflictState.ambiguous) and not reopen(row):
            continue
        settling = state == ConflictState.open or (state == ConflictState.returned and not waiting)
        if settling and restore is not None and (decided := restore(row)) is not None:
            row.state, row.resolved_at = decided
            changes["restored"] += 1
            continue
        if _refresh(row, severity, details):
            changes["updated"] += 1
        if state == ConflictState.returned and waiting:
            continue
        if state != ConflictState.open:
            row.state, row.resolved_at = ConflictState.open, None
            changes["reopened"] += 1
    return changes


def _manual_reopens(row: Conflict, reopen: Reopen, waiting: bool) -> bool:
    if row.state == ConflictState.returned:
        return not waiting
    return row.state in (ConflictState.resolved, ConflictState.ambiguous) and reopen(row)


def _refresh(row: Conflict, severity: float, details: dict[str, Any]) -> bool:
    changed = False
    if row.severity != severity:
        row.severity, changed = severity, True
    if row.details != details:
        row.details, changed = details, True
    return changed


def _store_final(db: Session, image_id: int, proposal: dict[str, Any] | None, row: FinalLabel | None) -> None:
    if row is not None and (row.source not in AUTOMATIC or row.is_ambiguous):
        return  # a reviewer's decision stands
    if proposal is None:
        if row is not None:
            db.delete(row)
        return
    if row is None:
        db.add(FinalLabel(image_id=image_id, is_ambiguous=False, **proposal))
        return
    for key, value in proposal.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


def newer_label_disagrees(decided_class_id: int | None, ambiguous: bool,
                          labels: Sequence[tuple[datetime | None, int | None]], since: datetime | None) -> bool:
    """Whether a label given after `since` (the decision) names another class than the decision:
    `labels` are (created_at, current class id). An ambiguous decision agrees with nothing."""
    newer = [cid for at, cid in labels if since is None or at is None or at > since]
    if not newer:
        return False
    return ambiguous or any(cid != decided_class_id for cid in newer)
