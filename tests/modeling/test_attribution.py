"""Attribution: the label changes between two runs' versions, counted per class, beside the metric change."""
from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.modeling import attribution, compare
from tests.factories import class_named, make_image, make_project
from tests.modeling.rows import Item, make_run, make_version


def test_a_hand_made_relabel_is_counted_per_class_and_joined_to_the_metric_change(db: Session,
                                                                                    app: FastAPI) -> None:
    """v1 -> v2: 7 dent images corrected to pit, 2 ok corrected to scratch, 3 pit images added, 2 augmented
    pit copies added, 1 scratch image removed."""
    project = make_project(db, classes=("ok", "scratch", "dent", "pit"))
    ok, scratch, dent, pit = classes = [class_named(db, project, n) for n in ("ok", "scratch", "dent", "pit")]
    kept = [make_image(db, project) for _ in range(20)]
    truth = [pit] * 7 + [scratch] * 2 + [ok] * 11
    before = [dent] * 7 + [ok] * 2 + [ok] * 11
    removed = make_image(db, project)
    added = [make_image(db, project) for _ in range(3)]
    copies = [make_image(db, project, augmented_from_id=added[0].id) for _ in range(2)]
    v1 = make_version(db, project, 1, classes, [Item(im, c, "test") for im, c in zip(kept, before, strict=True)]
                      + [Item(removed, scratch, "train")])
    v2 = make_version(db, project, 2, classes, [Item(im, c, "test") for im, c in zip(kept, truth, strict=True)]
                      + [Item(im, pit, "train") for im in added + copies])
    a = make_run(db, v1, classes, 1, {im.id: (c, False) for im, c in zip(kept, before, strict=True)})
    b = make_run(db, v2, classes, 2, {im.id: (c, False) for im, c in zip(kept, truth, strict=True)})
    result = compare.compare_runs(db, storage=app.state.storage, project_id=project.id, a_id=a.id, b_id=b.id)
    found = attribution.attribute(db, result)
    assert (found.relabeled, found.added, found.augmented, found.removed) == (9, 3, 2, 1)
    by_name = {c.name: c for c in found.classes}
    assert set(by_name) == {"pit", "dent", "scratch", "ok"}
    assert by_name["pit"].corrected_to == 7 and by_name["pit"].corrected_from == [("dent", 7)]
    assert (by_name["pit"].added, by_name["pit"].augmented) == (3, 2)
    assert by_name["dent"].moved_out == 7 and by_name["ok"].moved_out == 2
    assert by_name["scratch"].corrected_to == 2 and by_name["scratch"].removed == 1
    assert found.classes[0].name == "pit"  # the most changes first
    pit_sentence = by_name["pit"].sentence
    assert pit_sentence.startswith("7 labels corrected to pit (7 from dent), 3 pit images added, "
                                   "2 augmented pit copies added; pit recall +1.00 [+1.00, +1.00]")
    assert by_name["pit"].recall is not None and by_name["pit"].recall["b"] == 1.0
    assert found.sentences[0] == ("From version 1 to version 2: 9 labels changed class, 3 images added, "
                                  "2 augmented copies added, 1 image removed.")
    assert found.as_dict()["classes"][0]["changes"] == 12


def test_runs_on_the_same_version_have_nothing_to_attribute(db: Session, app: FastAPI) -> None:
    project = make_project(db, classes=("ok", "pit"))
    classes = [class_named(db, project, n) for n in ("ok", "pit")]
    images = [make_image(db, project) for _ in range(4)]
    v1 = make_version(db, project, 1, classes, [Item(im, classes[i % 2]) for i, im in enumerate(images)])
    a = make_run(db, v1, classes, 1, {im.id: (classes[0], False) for im in images})
    b = make_run(db, v1, classes, 2, {im.id: (classes[i % 2], False) for i, im in enumerate(images)}, seed=1)
    found = attribution.attribute(db, compare.compare_runs(db, storage=app.state.storage, project_id=project.id,
                                                           a_id=a.id, b_id=b.id))
    assert found.same_version and not found.classes
    assert "recipe or the seed" in found.sentences[0]
