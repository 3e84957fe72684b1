"""The defect book as a versioned document, and non-destructive, reversible taxonomy changes."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.audit import AuditEvent
from app.core.errors import Conflict, Invalid
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.projects import defect_book, taxonomy
from app.projects.models import ClassExample, DefectBookVersion
from app.review.models import FinalLabel
from tests.factories import make_final_label
from tests.review.scene import Scene, make_scene

Client = Callable[[User], TestClient]


def versions(db: Session, s: Scene) -> list[tuple[int, str]]:
    rows = db.scalars(select(DefectBookVersion).where(DefectBookVersion.project_id == s.project.id)
                      .order_by(DefectBookVersion.version))
    return [(v.version, v.change.get("kind")) for v in rows]


def answers(db: Session) -> list[tuple]:
    return [(a.id, a.image_id, a.labeler_id, a.label_class_id, list(a.boxes), a.superseded_by_id)
            for a in db.scalars(select(Annotation).order_by(Annotation.id))]


def test_each_change_is_a_new_version_with_what_changed(db: Session) -> None:
    s = make_scene(db)
    image = s.disputed(["pit", "pit"])[0]
    dent = s.cls("dent")
    v2 = defect_book.edit_definition(db, project=s.project, class_id=dent.id, seen_version=1, actor=s.reviewer,
                                     definition="A soft shaded hollow wider than 10 px.")
    example = defect_book.add_example(db, project=s.project, class_id=dent.id, image_id=image.id, note="wide",
                                      actor=s.reviewer)
    defect_book.remove_example(db, project=s.project, example_id=example.id, actor=s.reviewer)
    assert versions(db, s) == [(1, "created"), (2, "definition"), (3, "example_added"), (4, "example_removed")]
    assert s.project.defect_book_version == 4
    assert v2.change == {"kind": "definition", "class_id": dent.id, "before": "",
                         "after": "A soft shaded hollow wider than 10 px."}
    assert next(c for c in v2.snapshot if c["id"] == dent.id)["definition"].startswith("A soft")
    book = defect_book.read_book(db, project=s.project, since=2)
    assert [(c.version, c.is_new) for c in book.changes] == [(4, True), (3, True), (2, False), (1, False)]
    db.flush()
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "defect_book.changed")) is not None


def test_an_edit_on_an_old_version_is_a_409(db: Session) -> None:
    s = make_scene(db)
    dent = s.cls("dent")
    defect_book.edit_definition(db, project=s.project, class_id=dent.id, definition="first", seen_version=1,
                                actor=s.reviewer)
    with pytest.raises(Conflict) as raised:
        defect_book.edit_definition(db, project=s.project, class_id=dent.id, definition="second", seen_version=1,
                                    actor=s.admin)
    assert raised.value.detail == {"version": 2}
    assert dent.definition == "first"


def test_definition_change_sends_contradicting_earlier_labels_back(db: Session) -> None:
    s = make_scene(db)
    confused, _ = s.disputed(["dent", "pit", "dent"])    # dent/pit cluster: the two dents go back
    s.disputed(["dent", "dent"])  # dent everywhere: stays
    change = defect_book.edit_definition(db, project=s.project, class_id=s.cls("dent").id, seen_version=1,
                                         definition="Wider than 10 px; smaller ones are pits.", actor=s.reviewer)
    db.flush()
    scope = defect_book.relabel_scope(db, project=s.project, class_id=s.cls("dent").id, version=change.version)
    assert scope.total == 4 and [(c.name, n) for c, n in scope.confused_with] == [("pit", 2)]
    sent = defect_book.send_for_relabel(db, project=s.project, class_id=s.cls("dent").id, version=change.version,
                                        confused_with_id=s.cls("pit").id, actor=s.reviewer)
    assert sent == 2
    returned = db.scalars(select(Assignment).order_by(Assignment.labeler_id)).all()
    assert {(a.image_id, a.labeler_id) for a in returned} == {(confused.id, s.labelers[0].id),
                                                              (confused.id, s.labelers[2].id)}
    assert all(a.state == AssignmentState.returned and f"v{change.version}" in a.note for a in returned)


def test_rename_merge_and_undo_never_touch_annotations(db: Session) -> None:
    s = make_scene(db)
    image, _ = s.disputed(["dent", "pit"])
    final = make_final_label(db, image, s.cls("pit"), boxes=[s.box("pit"), s.box("dent")])
    before = answers(db)
    pit, dent = s.cls("pit"), s.cls("dent")
    taxonomy.rename_class(db, project=s.project, class_id=pit.id, name="pinhole", actor=s.admin)
    merge = taxonomy.merge_classes(db, project=s.project, source_id=pit.id, target_id=dent.id, actor=s.admin)
    assert not pit.is_active and taxonomy.class_mapping(db, s.project.id) == {pit.id: dent.id}
    assert final.label_class_id == dent.id and [b["class_id"] for b in final.boxes] == [dent.id, dent.id]
    undo = taxonomy.revert_change(db, project=s.project, version=merge.version, actor=s.admin)
    assert undo.change["kind"] == "unmerge" and undo.change["reverts"] == merge.version
    assert pit.is_active and taxonomy.class_mapping(db, s.project.id) == {}
    assert final.label_class_id == pit.id and [b["class_id"] for b in final.boxes] == [pit.id, dent.id]
    taxonomy.revert_change(db, project=s.project, version=2, actor=s.admin)  # the rename
    assert pit.name == "pit"
    assert answers(db) == before
    assert [k for _, k in versions(db, s)] == ["created", "rename", "merge", "unmerge", "rename"]


def test_split_retires_the_class_and_sends_its_images_back(db: Session) -> None:
    s = make_scene(db)
    dented, _ = s.disputed(["dent", "pit"])
    boxed, _ = s.disputed(["scratch", "scratch"], boxes=[[s.box("scratch"), s.box("dent", 200, 200)], []])
    untouched, _ = s.disputed(["ok", "ok"])
    before = answers(db)
    dent = s.cls("dent")
    split = taxonomy.split_class(db, project=s.project, actor=s.admin, class_id=dent.id,
                                 into=[taxonomy.NewClass("dent-shallow"), taxonomy.NewClass("dent-deep")])
    assert not dent.is_active
    shallow, deep = s.cls("dent-shallow"), s.cls("dent-deep")
    assert shallow.is_active and deep.is_active and shallow.hotkey == dent.hotkey
    returned = db.scalars(select(Assignment)).all()
    assert {(a.image_id, a.labeler_id) for a in returned} == {
        (dented.id, s.labelers[0].id), (dented.id, s.labelers[1].id),
        (boxed.id, s.labelers[0].id), (boxed.id, s.labelers[1].id)}
    assert untouched.id not in {a.image_id for a in returned}
    assert answers(db) == before
    taxonomy.revert_change(db, project=s.project, version=split.version, actor=s.admin)
    assert dent.is_active and not shallow.is_active and not deep.is_active
    assert taxonomy.class_mapping(db, s.project.id) == {shallow.id: dent.id, deep.id: dent.id}
    assert all(a.state == AssignmentState.expired for a in db.scalars(select(Assignment)))


def test_taxonomy_refuses_bad_changes(db: Session) -> None:
    s = make_scene(db)
    with pytest.raises(Invalid):
        taxonomy.rename_class(db, project=s.project, class_id=s.cls("pit").id, name="dent", actor=s.admin)
    with pytest.raises(Invalid):
        taxonomy.merge_classes(db, project=s.project, source_id=s.cls("pit").id, target_id=s.cls("pit").id,
                               actor=s.admin)
    with pytest.raises(Invalid, match="cannot be undone"):
        taxonomy.revert_change(db, project=s.project, version=1, actor=s.admin)


def test_decisions_read_classes_through_the_merge(db: Session) -> None:
    from app.review import service
    from app.review.schemas import DecisionIn

    s = make_scene(db)
    image, conflict = s.disputed(["pit", "dent"])
    taxonomy.merge_classes(db, project=s.project, source_id=s.cls("pit").id, target_id=s.cls("dent").id,
                           actor=s.admin)
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="take_labeler", version=1, labeler_id=s.labelers[0].id))
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    assert final.label_class_id == s.cls("dent").id  # the pit answer counts as dent now
    assert service.agrees_with_decision(db, image_id=image.id, label_class_id=s.cls("pit").id) is True
    taxonomy.split_class(db, project=s.project, class_id=s.cls("scratch").id, actor=s.admin,
                         into=[taxonomy.NewClass("scratch-light"), taxonomy.NewClass("scratch-deep")])
    with pytest.raises(Invalid, match="retired"):  # a split class has no successor to stand for it
        service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                       data=DecisionIn(decision="edit", version=2, label_class_id=s.cls("scratch").id, boxes=[]))


def test_book_pages_for_labelers_reviewers_and_admins(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image = s.disputed(["dent"])[0]
    base = f"/projects/{s.project.id}/defect-book"
    labeler, reviewer, admin = client_for(s.labelers[0]), client_for(s.reviewer), client_for(s.admin)
    page = labeler.get(base)
    assert page.status_code == 200 and "Edit definition" not in page.text and "Change the taxonomy" not in page.text
    assert labeler.post(f"{base}/classes/{s.cls('dent').id}/definition",
                        data={"definition": "x", "seen_version": "1"}).status_code == 403
    saved = reviewer.post(f"{base}/classes/{s.cls('dent').id}/definition",
                          data={"definition": "Wider than 10 px.", "seen_version": "1"}, follow_redirects=False)
    assert saved.status_code == 303 and "/defect-book/relabel?" in saved.headers["location"]
    assert reviewer.get(saved.headers["location"]).status_code == 200
    added = reviewer.post(f"{base}/examples", data={"label_class_id": str(s.cls("dent").id),
                                                    "file_name": image.file_name, "note": "a classic"})
    assert added.status_code == 200 and "a classic" in added.text
    assert db.scalar(select(ClassExample.image_id)) == image.id
    assert reviewer.post(f"{base}/taxonomy/rename", data={"class_id": str(s.cls("pit").id),
                                                          "name": "pinhole"}).status_code == 403
    renamed = admin.post(f"{base}/taxonomy/rename", data={"class_id": str(s.cls("pit").id), "name": "pinhole"})
    assert renamed.status_code == 200 and "pinhole" in renamed.text
    changes = labeler.get(f"{base}?since=1").text
    assert "3 changes since v1" in changes and "“pit” renamed to “pinhole”" in changes


def test_book_api(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image = s.disputed(["dent"])[0]
    api = f"/api/v1/projects/{s.project.id}/defect-book"
    reviewer, admin = client_for(s.reviewer), client_for(s.admin)
    put = reviewer.put(f"{api}/classes/{s.cls('pit').id}/definition", json={"definition": "round", "seen_version": 1})
    assert put.status_code == 200 and put.json()["version"] == 2
    stale = reviewer.put(f"{api}/classes/{s.cls('pit').id}/definition", json={"definition": "oval", "seen_version": 1})
    assert stale.status_code == 409 and stale.json()["detail"] == {"version": 2}
    example = reviewer.post(f"{api}/examples", json={"label_class_id": s.cls("pit").id, "image_id": image.id})
    assert example.status_code == 201 and example.json()["file_name"] == image.file_name
    merged = admin.post(f"{api}/taxonomy/merge", json={"source_id": s.cls("pit").id, "target_id": s.cls("dent").id})
    assert merged.status_code == 200 and merged.json()["change"]["kind"] == "merge"
    assert client_for(s.labelers[0]).get(f"{api}/class-mapping").json() == {str(s.cls("pit").id): s.cls("dent").id}
    book = client_for(s.labelers[0]).get(api).json()
    assert book["version"] == 4
    assert {c["name"]: c["merged_into"] for c in book["classes"]}["pit"] == "dent"
    undo = admin.post(f"{api}/versions/{merged.json()['version']}/revert")
    assert undo.status_code == 200 and undo.json()["change"]["kind"] == "unmerge"
