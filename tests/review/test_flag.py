"""Flag for review (SQLite and Postgres): a reviewer opens a `flagged` conflict on an image its
labelers all agreed on; the consistency service never closes it; a decision overrides the unanimous
label, and a frozen version and its export carry the reviewer's class."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.consistency import service as consistency
from app.consistency.models import Conflict, ConflictState
from app.core.audit import AuditEvent
from app.core.errors import Invalid, NotFound
from app.datasets.models import DatasetItem
from app.labeling.models import Annotation
from app.review import flags, queue, service
from app.review.models import FinalLabel, Resolution
from app.review.schemas import DecisionIn
from tests.datasets.helpers import archive, export, freeze
from tests.factories import make_annotation, make_image, make_project
from tests.review.scene import Scene, make_scene
from tests.support.databases import fresh_database


def unanimous(s: Scene, name: str = "ok", **image: object) -> object:
    """An image every labeler gave `name`, judged by the consistency service as in production."""
    picture = make_image(s.db, s.project, labels_wanted=3, **image)
    for labeler in s.labelers:
        consistency.on_new_annotation(s.db, make_annotation(s.db, picture, labeler, s.cls(name)))
    return picture


def final_of(db: Session, image: object) -> FinalLabel:
    return db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))  # type: ignore[attr-defined]


def flag(s: Scene, image: object, note: str = "the scratch under the clip: all three missed it") -> Conflict:
    return flags.flag_image(s.db, project=s.project, image_id=image.id, reviewer=s.reviewer, note=note)  # type: ignore[attr-defined]


def test_a_flag_opens_a_high_severity_conflict_with_the_note_and_an_audit_event(db: Session) -> None:
    s = make_scene(db)
    image = unanimous(s)
    _, other = s.disputed(["dent", "pit", "dent"], consensus="dent", severity=80.0)
    assert final_of(db, image).source == "unanimous"
    conflict = flag(s, image)
    assert (conflict.kind, conflict.state, conflict.image_id) == ("flagged", "open", image.id)
    assert conflict.severity >= 90.0
    assert conflict.details["note"] == "the scratch under the clip: all three missed it"
    assert conflict.details["flagged_by"] == s.reviewer.id and conflict.details["final_source"] == "unanimous"
    assert conflict.details["reason"].startswith("Flagged by Rita Reviewer")
    first = queue.queue_page(db, project_id=s.project.id, filters=queue.QueueFilters(), base_href="/").rows[0]
    assert first.conflict.id == conflict.id and other.severity < conflict.severity
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "review.flagged"))
    assert event.object_id == conflict.id and event.actor_id == s.reviewer.id and event.data["image_id"] == image.id


def test_bad_flags_are_refused_and_store_nothing(db: Session) -> None:
    s = make_scene(db)
    image = unanimous(s)
    stranger = make_image(db, make_project(db))
    with pytest.raises(Invalid):
        flag(s, image, note="   ")
    with pytest.raises(Invalid):
        flag(s, image, note="x" * 2001)
    with pytest.raises(NotFound):
        flag(s, stranger)
    assert db.scalar(select(func.count()).select_from(Conflict).where(Conflict.kind == "flagged")) == 0
    flag(s, image)
    with pytest.raises(flags.AlreadyFlagged) as again:
        flag(s, image, note="twice")
    assert again.value.status_code == 409 and again.value.detail["state"] == "open"
    assert db.scalar(select(func.count()).select_from(Conflict).where(Conflict.kind == "flagged")) == 1


def test_recompute_and_new_agreeing_labels_leave_a_flag_open(db: Session) -> None:
    s = make_scene(db)
    image = unanimous(s)
    conflict = flag(s, image)
    consistency.recompute_project(db, project_id=s.project.id)
    db.refresh(conflict)
    assert conflict.state == "open"
    consistency.refresh_image(db, s.project, image)  # the incremental path, as after a new label
    db.refresh(conflict)
    assert conflict.state == "open" and final_of(db, image).source == "unanimous"


def test_deciding_a_flag_overrides_the_unanimous_label_and_the_export_uses_it(db: Session, app: object) -> None:
    s = make_scene(db)
    image = unanimous(s, "ok")
    keep = unanimous(s, "dent")
    conflict = flag(s, image)
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("scratch").id,
                                   boxes=[s.box("scratch", 100, 120, 40, 8)], reason="look under the clip"))
    final = final_of(db, image)
    assert (final.source, final.label_class_id) == ("review", s.cls("scratch").id)
    assert db.get(Conflict, conflict.id).state == "resolved"
    consistency.recompute_project(db, project_id=s.project.id)  # the labelers still say ok, unanimously
    final = final_of(db, image)
    assert (final.source, final.label_class_id) == ("review", s.cls("scratch").id)
    assert db.get(Conflict, conflict.id).state == "resolved"
    version = freeze(db, s)
    items = {i.image_id: i for i in db.scalars(select(DatasetItem).where(DatasetItem.version_id == version.id))}
    assert items[image.id].label_class_id == s.cls("scratch").id and items[image.id].source == "review"  # type: ignore[attr-defined]
    assert items[keep.id].label_class_id == s.cls("dent").id  # type: ignore[attr-defined]
    storage = app.state.storage  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(archive(storage, export(db, storage, version, "csv"))
                                           .read("annotations.csv").decode())))
    mine = [r for r in rows if int(r["image_id"]) == image.id]  # type: ignore[attr-defined]
    assert mine and {r["image_class"] for r in mine} == {"scratch"} and {r["box_class"] for r in mine} == {"scratch"}


def test_an_open_flag_keeps_the_image_out_of_a_frozen_version(db: Session) -> None:
    s = make_scene(db)
    image, other = unanimous(s), unanimous(s)
    flag(s, image)
    version = freeze(db, s)
    kept = set(db.scalars(select(DatasetItem.image_id).where(DatasetItem.version_id == version.id)))
    assert kept == {other.id}  # type: ignore[attr-defined]


def test_a_flag_sent_back_reopens_when_the_relabels_arrive_and_can_be_flagged_again(db: Session) -> None:
    s = make_scene(db)
    image = unanimous(s)
    conflict = flag(s, image)
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="send_back", version=conflict.version, labeler_ids=[s.labelers[0].id],
                                   reason="look under the clip"))
    assert db.get(Conflict, conflict.id).state == "returned"
    consistency.refresh_image(db, s.project, image)
    assert db.get(Conflict, conflict.id).state == "returned"  # the relabel is still pending
    old = db.scalar(select(Annotation).where(Annotation.image_id == image.id,  # type: ignore[attr-defined]
                                             Annotation.labeler_id == s.labelers[0].id))
    old.superseded_by_id = old.id
    db.flush()
    new = make_annotation(db, image, s.labelers[0], s.cls("ok"))
    old.superseded_by_id = new.id
    db.execute(text("UPDATE assignments SET state = 'done' WHERE image_id = :i"), {"i": image.id})  # type: ignore[attr-defined]
    db.flush()
    consistency.on_new_annotation(db, new)
    reopened = db.get(Conflict, conflict.id)
    db.refresh(reopened)
    assert reopened.state == "open"
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="accept_consensus", version=reopened.version))
    again = flag(s, image, note="second look")
    assert again.id == conflict.id and again.state == "open" and again.details["note"] == "second look"
    assert db.scalar(select(func.count()).select_from(Resolution).where(Resolution.conflict_id == conflict.id)) == 2


def test_a_decided_flag_reopens_when_a_newer_label_contradicts_the_decision(db: Session) -> None:
    s = make_scene(db)
    image = unanimous(s, "ok")
    conflict = flag(s, image)
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("scratch").id))
    consistency.refresh_image(db, s.project, image)
    assert db.get(Conflict, conflict.id).state == "resolved"  # the older labels do not contradict it
    old = db.scalar(select(Annotation).where(Annotation.image_id == image.id,  # type: ignore[attr-defined]
                                             Annotation.labeler_id == s.labelers[0].id))
    old.superseded_by_id = old.id
    db.flush()
    new = make_annotation(db, image, s.labelers[0], s.cls("ok"))  # a relabel after the decision, still ok
    old.superseded_by_id = new.id
    db.flush()
    consistency.on_new_annotation(db, new)
    reopened = db.get(Conflict, conflict.id)
    db.refresh(reopened)
    assert reopened.state == "open" and final_of(db, image).source == "review"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_migration_adds_the_kind_and_its_downgrade_drops_flags(kind: str, tmp_path: Path) -> None:
    from app.core import migrate

    with fresh_database(kind, tmp_path) as engine:
        with Session(engine) as db:
            s = make_scene(db)
            conflict = flag(s, unanimous(s))
            service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                           data=DecisionIn(decision="edit", version=conflict.version,
                                           label_class_id=s.cls("dent").id))
            db.commit()
        migrate.downgrade(engine, "3c1f8a2d9e47")
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM conflicts WHERE kind = 'flagged'")) == 0
            assert conn.scalar(text("SELECT count(*) FROM final_labels WHERE source = 'review'")) == 1
        migrate.upgrade(engine)
        with Session(engine) as db:
            s = make_scene(db)
            assert flag(s, unanimous(s)).state == ConflictState.open

