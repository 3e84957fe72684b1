"""Near-duplicate groups of a project and their conflicts ("thirty look-alike images labeled three ways").

Groups come from the images' stored signatures (images.phash, hex of duplicates.signature; augmented
copies are left out: they are look-alikes by construction). Group ids stay stable across recomputes:
a found group takes over the existing group it shares most images with, so reviewers' decisions and
links keep pointing at the same group. A group whose images' labels (final label, else consensus)
name more than one class gets a `duplicate_group` conflict (subject "group:<id>").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.orm import Session

from app.consistency import severity
from app.consistency.context import ProjectContext
from app.consistency.duplicates import SIGNATURE_BYTES, find_near_duplicates
from app.consistency.models import Conflict, ConflictKind, DuplicateGroup, ImageConsensus
from app.consistency.writer import sync_conflicts
from app.core.db import read_only_session
from app.images.models import Image
from app.review.models import FinalLabel

DEFAULT_MAX_DISTANCE = 0.85


def _signatures(db: Session, project_id: int) -> tuple[list[int], list[bytes], dict[int, int | None]]:
    query = (select(Image.id, Image.phash, Image.duplicate_group_id)
             .where(Image.project_id == project_id, Image.augmented_from_id.is_(None)).order_by(Image.id)
             .execution_options(yield_per=5000))
    ids, signatures, current = [], [], {}
    for image_id, phash, group_id in db.execute(query):
        current[image_id] = group_id
        try:
            raw = bytes.fromhex(phash) if phash else b""
        except ValueError:
            continue
        if len(raw) == SIGNATURE_BYTES:
            ids.append(image_id)
            signatures.append(raw)
    return ids, signatures, current


def sync_duplicate_groups(db: Session, ctx: ProjectContext) -> dict[str, Any]:
    """Find the groups, store them on the images, and open/close their conflicts."""
    project_id = ctx.project.id
    with read_only_session(db) as reader:  # the search holds no lock: only its writes below do
        ids, signatures, current = _signatures(reader, project_id)
    found = find_near_duplicates(signatures, max_distance=float((ctx.project.settings or {}).get(
        "duplicate_max_distance", DEFAULT_MAX_DISTANCE))) if len(signatures) >= 2 else None
    wanted = [[ids[i] for i in g] for g in (found.groups if found else [])]
    assigned = _assign_ids(db, project_id, wanted, current)
    for group_id, members in assigned.items():
        db.execute(update(Image).where(Image.id.in_(members)).values(duplicate_group_id=group_id))
        db.get_one(DuplicateGroup, group_id).size = len(members)
    grouped = {i for members in assigned.values() for i in members}
    loose = [i for i, g in current.items() if g is not None and i not in grouped]
    for start in range(0, len(loose), 1000):
        db.execute(update(Image).where(Image.id.in_(loose[start:start + 1000])).values(duplicate_group_id=None))
    _retire_groups(db, project_id, set(assigned))
    conflicts = _group_conflicts(db, ctx, assigned)
    return {"groups": len(assigned), "images": len(grouped), "with_conflict": conflicts,
            "candidates_checked": found.candidates if found else 0}


def sync_group_conflicts(db: Session, ctx: ProjectContext) -> dict[str, Any]:
    """Re-check the stored groups' conflicts against the current labels, without searching for
    groups again (labels changed, images did not)."""
    assigned: dict[int, list[int]] = {}
    stored = (select(Image.id, Image.duplicate_group_id)
              .join(DuplicateGroup, DuplicateGroup.id == Image.duplicate_group_id)
              .where(DuplicateGroup.project_id == ctx.project.id).order_by(Image.id))
    for image_id, group_id in db.execute(stored):
        assigned.setdefault(int(group_id), []).append(image_id)  # type: ignore[arg-type]  # joined: never None
    conflicts = _group_conflicts(db, ctx, assigned)
    return {"groups": len(assigned), "images": sum(map(len, assigned.values())), "with_conflict": conflicts,
            "candidates_checked": 0}


def _assign_ids(db: Session, project_id: int, wanted: list[list[int]],
                current: dict[int, int | None]) -> dict[int, list[int]]:
    """Reuse each existing group for the found group it overlaps most (largest groups first)."""
    taken: set[int] = set()
    assigned: dict[int, list[int]] = {}
    for members in sorted(wanted, key=lambda g: (-len(g), g[0])):
        overlap = Counter(current[i] for i in members if current.get(i) is not None)
        reuse = next((g for g, _ in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0])) if g not in taken), None)
        if reuse is None:
            group = DuplicateGroup(project_id=project_id, size=len(members))
            db.add(group)
            db.flush()
            reuse = group.id
        taken.add(reuse)
        assigned[reuse] = members
    return assigned


def _retire_groups(db: Session, project_id: int, keep: set[int]) -> None:
    """Groups that no longer exist: their open conflicts close, the rows go."""
    gone = db.scalars(select(DuplicateGroup).where(DuplicateGroup.project_id == project_id,
                                                   DuplicateGroup.id.not_in(keep) if keep else true())).all()
    for group in gone:
        rows = {c.kind: c for c in db.scalars(select(Conflict).where(
            Conflict.project_id == project_id, Conflict.subject_key == f"group:{group.id}"))}
        sync_conflicts(db, project_id=project_id, subject={}, subject_key=f"group:{group.id}", desired={}, rows=rows,
                       kinds=[ConflictKind.duplicate_group], reopen=lambda _c: False)
        db.flush()
        db.delete(group)


def _group_conflicts(db: Session, ctx: ProjectContext, assigned: dict[int, list[int]]) -> int:
    """One conflict per group whose images' labels disagree; returns how many groups have one."""
    members = [i for ids in assigned.values() for i in ids]
    label: dict[int, int | None] = {}
    for start in range(0, len(members), 1000):
        part = members[start:start + 1000]
        label.update(db.execute(select(ImageConsensus.image_id, ImageConsensus.consensus_class_id)
                                .where(ImageConsensus.image_id.in_(part))).all())
        label.update(db.execute(select(FinalLabel.image_id, FinalLabel.label_class_id).where(
            FinalLabel.image_id.in_(part), FinalLabel.label_class_id.is_not(None))).all())
    existing = {c.subject_key: c for c in db.scalars(select(Conflict).where(
        Conflict.project_id == ctx.project.id, Conflict.kind == ConflictKind.duplicate_group))}
    with_conflict = 0
    for group_id, ids in assigned.items():
        classes = {i: ctx.class_ids[c] for i in ids if (c := ctx.code(label.get(i))) is not None}
        desired = {}
        votes = Counter(classes.values())
        if len(votes) > 1:
            with_conflict += 1
            top, n_top = votes.most_common(1)[0]
            desired[ConflictKind.duplicate_group] = (
                severity.duplicate_group(majority_share=n_top / len(classes), size=len(ids)),
                {"images": {str(i): c for i, c in classes.items()}, "votes": {str(c): n for c, n in votes.items()},
                 "size": len(ids), "majority_class_id": top,
                 "reason": f"{len(ids)} near-duplicate images labeled {len(votes)} ways: "
                           + ", ".join(f"{ctx.name(ctx.code(c))} ({n})" for c, n in votes.most_common())})  # type: ignore[arg-type]
        key = f"group:{group_id}"
        rows = {ConflictKind.duplicate_group: existing[key]} if key in existing else {}
        sync_conflicts(db, project_id=ctx.project.id, subject={"duplicate_group_id": group_id}, subject_key=key,
                       desired=desired, rows=rows, kinds=[ConflictKind.duplicate_group],  # type: ignore[arg-type]
                       reopen=lambda _c: True)  # after a group decision all labels agree; disagreeing again is news
    return with_conflict
