"""Freezing decided labels into versions: the filter, the stable split, the content hash, the diff."""
from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, Invalid
from app.datasets import service
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.schemas import FreezeFilter, FreezeIn
from app.images.models import Image
from app.review.models import FinalLabel
from tests.datasets.scene import add_image, build_scene
from tests.factories import make_final_label, make_image


def freeze(db: Session, scene, name: str = "v1", **filter_args) -> DatasetVersion:
    spec = FreezeIn(name=name, filter=FreezeFilter(**filter_args))
    return service.freeze_version(db, project=scene.project, spec=spec, user=scene.admin)


def items_of(db: Session, version: DatasetVersion) -> dict[int, DatasetItem]:
    return {i.image_id: i for i in db.scalars(select(DatasetItem).where(DatasetItem.version_id == version.id))}


def image_splits(db: Session, ids) -> dict[int, str | None]:
    return dict(db.execute(select(Image.id, Image.split).where(Image.id.in_(list(ids)))).all())


def test_only_decided_labels_that_pass_the_filter_are_frozen(db: Session) -> None:
    scene = build_scene(db, images=52)
    version = freeze(db, scene)
    items = items_of(db, version)
    assert set(items) == {i.id for i in scene.decided}
    assert version.counts["items"] == len(scene.decided)
    assert version.counts["excluded"] == {"ambiguous": 4, "unresolved": 4}
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(list(items))))}
    for image_id, item in items.items():
        assert item.label_class_id == finals[image_id].label_class_id
        expected = sorted(({k: round(float(b[k]), 3) for k in "xywh"} | {"class_id": b["class_id"]}
                           for b in finals[image_id].boxes), key=lambda b: (b["x"], b["y"], b["w"], b["h"]))
        assert item.boxes == expected
    # Every frozen image got its split once, and the item carries the same one.
    assert image_splits(db, items) == {i: item.split for i, item in items.items()}
    assert sum(version.counts["splits"].values()) == len(items)


def test_the_filter_keeps_ambiguous_and_unresolved_when_asked(db: Session) -> None:
    scene = build_scene(db, images=52)
    version = freeze(db, scene, exclude_ambiguous=False, exclude_unresolved=False)
    assert version.counts["items"] == len(scene.decided) + 8
    assert version.counts.get("excluded", {}) == {}


def test_min_confidence_classes_and_slices(db: Session) -> None:
    scene = build_scene(db, images=60)
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel))}
    decided = [i for i in scene.decided]
    version = freeze(db, scene, name="confident", min_confidence=0.8)
    assert set(items_of(db, version)) == {i.id for i in decided if finals[i.id].confidence >= 0.8}
    wanted = [scene.classes["scratch"].id, scene.classes["dent"].id]
    version = freeze(db, scene, name="two classes", class_ids=wanted)
    items = items_of(db, version)
    assert set(items) == {i.id for i in decided if finals[i.id].label_class_id in wanted}
    assert all(b["class_id"] in wanted for item in items.values() for b in item.boxes)
    version = freeze(db, scene, name="line 1 nights", slices={"line": ["L1"], "shift": ["night"]})
    night_l1 = {i.id for i in decided if i.meta["line"] == "L1" and i.meta["shift"] == "night"}
    assert set(items_of(db, version)) == night_l1
    assert version.counts["slices"]["line"] == {"L1": version.counts["items"]}


def test_augmented_images_follow_their_original_and_are_out_by_default(db: Session) -> None:
    scene = build_scene(db, images=20)
    source = scene.decided[0]
    copy = make_image(db, scene.project, augmented_from_id=source.id, augmentation={"flip": "h"})
    make_final_label(db, copy, scene.classes["ok"])
    version = freeze(db, scene)
    assert copy.id not in items_of(db, version)
    assert version.counts["excluded"]["augmented"] == 1
    version = freeze(db, scene, name="with copies", include_augmented=True)
    items = items_of(db, version)
    assert items[copy.id].split == items[source.id].split


def test_same_snapshot_same_hash_and_the_hash_is_the_documented_digest(db: Session) -> None:
    scene = build_scene(db, images=30)
    first, again = freeze(db, scene, "a"), freeze(db, scene, "b")
    assert first.content_hash == again.content_hash
    names = {c.id: c.name for c in scene.classes.values()}
    digest = hashlib.sha256()
    rows = db.execute(select(DatasetItem, Image.sha256).join(Image, Image.id == DatasetItem.image_id)
                      .where(DatasetItem.version_id == first.id).order_by(DatasetItem.image_id)).all()
    for item, sha in rows:
        line = [sha, names.get(item.label_class_id),
                [[b["x"], b["y"], b["w"], b["h"], names[b["class_id"]]] for b in item.boxes], item.split]
        digest.update(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
    assert first.content_hash == digest.hexdigest()
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == scene.decided[0].id))
    final.label_class_id = scene.classes["pit"].id if final.label_class_id != scene.classes["pit"].id \
        else scene.classes["dent"].id
    db.flush()
    assert freeze(db, scene, "c").content_hash != first.content_hash


def test_splits_are_stable_across_versions_and_groups_never_straddle(db: Session) -> None:
    scene = build_scene(db, images=70, groups=4)
    v1 = freeze(db, scene, "v1")
    first = {i: item.split for i, item in items_of(db, v1).items()}
    rng = random.Random(5)
    for i in range(70, 130):  # new images, some joining the existing near-duplicate groups
        add_image(db, scene, rng, i)
    v2 = freeze(db, scene, "v2")
    second = items_of(db, v2)
    assert v2.parent_id == v1.id
    assert all(second[i].split == split for i, split in first.items() if i in second)
    assert image_splits(db, first) == first  # Image.split never moved
    groups: dict[int, set[str]] = defaultdict(set)
    for image in db.scalars(select(Image).where(Image.id.in_(list(second)))):
        if image.duplicate_group_id is not None:
            groups[image.duplicate_group_id].add(second[image.id].split)
    assert groups and all(len(splits) == 1 for splits in groups.values())
    assert {"train", "val", "test"} <= {item.split for item in second.values()}
    assert v2.datasheet["lineage"]["diff"]["added"] == len(set(second) - set(first))


def test_a_group_linked_after_freezing_is_kept_whole(db: Session) -> None:
    scene = build_scene(db, images=60, groups=0)
    v1 = freeze(db, scene, "v1")
    by_split: dict[str, list[int]] = defaultdict(list)
    for image_id, item in items_of(db, v1).items():
        by_split[item.split].append(image_id)
    from app.consistency.models import DuplicateGroup

    group = DuplicateGroup(project_id=scene.project.id, size=3)
    db.add(group)
    db.flush()
    linked = [by_split["train"][0], by_split["train"][1], by_split["test"][0]]
    for image in db.scalars(select(Image).where(Image.id.in_(linked))):
        image.duplicate_group_id = group.id
    db.flush()
    v2 = freeze(db, scene, "v2")
    items = items_of(db, v2)
    assert linked[0] in items and linked[1] in items and linked[2] not in items
    assert v2.counts["excluded"]["duplicate_straddle"] == 1
    assert image_splits(db, [linked[2]]) == {linked[2]: "test"}  # its split is never changed


def test_a_taken_name_an_empty_result_and_foreign_classes_are_refused_and_leave_nothing(db: Session) -> None:
    scene = build_scene(db, images=20)
    freeze(db, scene, "v1")
    with pytest.raises(Conflict):
        freeze(db, scene, "v1")
    with pytest.raises(Invalid):
        freeze(db, scene, "empty", slices={"line": ["nowhere"]})
    other = build_scene(db, images=3, seed=1)
    with pytest.raises(Invalid):
        freeze(db, scene, "foreign", class_ids=[other.classes["ok"].id])
    assert db.scalar(select(func.count()).select_from(DatasetVersion)
                     .where(DatasetVersion.project_id == scene.project.id)) == 1
    assert db.scalar(select(func.count()).select_from(DatasetItem)) == len(scene.decided)


def test_diff_counts_added_removed_and_relabeled(db: Session) -> None:
    scene = build_scene(db, images=40)
    v1 = freeze(db, scene, "v1")
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel))}
    relabel, unbox, drop = scene.decided[0], scene.decided[1], scene.decided[2]
    dent, pit = scene.classes["dent"].id, scene.classes["pit"].id
    before_class = finals[relabel.id].label_class_id
    finals[relabel.id].label_class_id = pit if before_class != pit else dent
    finals[unbox.id].boxes = [{"x": 1, "y": 1, "w": 5, "h": 5, "class_id": finals[unbox.id].label_class_id}]
    finals[drop.id].is_ambiguous = True
    added = add_image(db, scene, random.Random(9), 40)
    db.flush()
    v2 = freeze(db, scene, "v2")
    diff = service.diff(db, scene.project.id, before_id=v1.id, after_id=v2.id)
    assert (diff.added, diff.removed, diff.class_changed, diff.boxes_changed) == (1, 1, 1, 1)
    assert diff.unchanged == len(scene.decided) - 4
    assert [c.image_id for c in diff.examples["added"]] == [added.id]
    assert [c.image_id for c in diff.examples["removed"]] == [drop.id]
    assert diff.transitions[0][2] == 1
    per_class = {c.name: c for c in diff.classes}
    assert sum(c.added for c in per_class.values()) == 1 and sum(c.removed for c in per_class.values()) == 1
    other = build_scene(db, images=5, seed=3)
    with pytest.raises(Exception) as caught:
        service.diff(db, other.project.id, before_id=v1.id, after_id=v2.id)
    assert caught.value.status_code == 404


def test_labels_on_a_merged_class_are_frozen_under_the_class_that_replaced_it(db: Session) -> None:
    from app.projects.models import DefectBookVersion

    scene = build_scene(db, images=20)
    pit, dent = scene.classes["pit"], scene.classes["dent"]
    # A merge of pit into dent that (unlike taxonomy.merge_classes) left the final labels alone.
    db.add(DefectBookVersion(project_id=scene.project.id, version=2, summary="pit merged into dent",
                             change={"kind": "merge", "source_id": pit.id, "target_id": dent.id}))
    pit.is_active = False
    db.flush()
    version = freeze(db, scene)
    items = items_of(db, version)
    assert pit.id not in {item.label_class_id for item in items.values()}
    assert pit.id not in {b["class_id"] for item in items.values() for b in item.boxes}
    assert "pit" not in {c["name"] for c in version.datasheet["classes"]}
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel))}
    assert sum(1 for i in items if finals[i].label_class_id == pit.id) > 0  # there was something to map
