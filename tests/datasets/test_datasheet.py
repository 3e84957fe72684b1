"""The datasheet: the Gebru et al. sections, figures quoted from the consistency service, labelers
under pseudonyms, frozen with the version (a later recompute changes nothing in its exports)."""
from __future__ import annotations

import json
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.consistency.models import AgreementSnapshot, LabelerQuality
from app.consistency.service import recompute_project
from app.datasets import datasheet
from app.labeling.models import Annotation
from tests.datasets.helpers import archive, export, freeze
from tests.datasets.scene import build_scene
from tests.factories import make_member

SECTIONS = ("## Motivation", "## Composition", "## Collection process", "## Labeling process", "## Agreement",
            "## Known ambiguities", "## Uses and distribution", "## Maintenance and lineage")


def test_the_datasheet_quotes_the_agreement_figures_and_never_names_a_labeler(db: Session, app) -> None:
    scene = build_scene(db, images=60)
    recompute_project(db, project_id=scene.project.id)
    snapshot = db.scalars(select(AgreementSnapshot).order_by(AgreementSnapshot.id.desc())).first()
    version = freeze(db, scene)
    sheet = version.datasheet
    quoted = sheet["agreement"]["snapshot"]
    assert (quoted["alpha"], quoted["fleiss_kappa"], quoted["n_images"]) == (snapshot.alpha, snapshot.fleiss_kappa,
                                                                              snapshot.n_images)
    kappas = [k["kappa"] for k in snapshot.summary["kappas"] if k["kappa"] is not None]
    assert quoted["pairwise_kappa"]["mean"] == round(sum(kappas) / len(kappas), 4)
    assert {p for k in quoted["pairwise_kappa"]["each"] for p in k["labelers"]} <= {"labeler 1", "labeler 2",
                                                                                     "labeler 3"}
    qualities = {q.user_id: q for q in db.scalars(select(LabelerQuality))}
    labeler_ids = sorted(qualities)
    for n, row in enumerate(sheet["labeling"]["labelers"], start=1):
        assert row["labeler"] == f"labeler {n}" and row["accuracy"] == qualities[labeler_ids[n - 1]].accuracy
    counts = sheet["counts"]
    assert sum(c["images"] for c in counts["classes"].values()) == counts["items"] == sum(counts["splits"].values())
    assert sum(c["boxes"] for c in counts["classes"].values()) == counts["boxes"]
    assert sheet["collection"]["batches"][0]["images"] == counts["items"]
    text = datasheet.to_markdown(version, scene.project.name)
    assert [s for s in SECTIONS if s in text] == list(SECTIONS)
    as_json = datasheet.to_json(version, scene.project.name)
    people = db.scalars(select(User).where(User.id.in_(labeler_ids))).all()
    for person in people:
        for leak in (person.email, person.display_name):
            assert leak not in text and leak not in as_json
    assert json.loads(as_json)["dataset"]["content_hash"] == version.content_hash


def test_later_changes_do_not_change_a_versions_exports(db: Session, app) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=40)
    recompute_project(db, project_id=scene.project.id)
    version = freeze(db, scene)
    first = export(db, storage, version, "csv")
    sha = first.sha256
    storage.delete(first.storage_key)
    # The project moves on: a class renamed, more answers, a new agreement snapshot.
    scene.classes["pit"].name = "pinhole"
    newcomer = make_member(db, scene.project, Role.inspector, password=None)
    rng = random.Random(1)
    for image in scene.images[:10]:
        db.add(Annotation(image_id=image.id, labeler_id=newcomer.id, boxes=[],
                          label_class_id=rng.choice(list(scene.classes.values())).id))
    db.flush()
    recompute_project(db, project_id=scene.project.id)
    assert export(db, storage, version, "csv").sha256 == sha
    zf = archive(storage, export(db, storage, version, "csv"))
    assert "pinhole" not in zf.read("annotations.csv").decode()


def test_the_datasheet_says_how_many_labels_the_images_got_and_the_policy_in_good_grammar(db: Session, app) -> None:
    scene = build_scene(db, images=40)  # three answers on every image; the project asks for one
    version = freeze(db, scene)
    text = datasheet.to_markdown(version, scene.project.name)
    assert f"Each of the {version.counts['items']} images got 3 labels." in text
    assert "The project's overlap policy asks for 1 label per image (imported" in text
    assert "1 labels" not in text and "QA fraction of 0.000" not in text
    scene.project.qa_fraction, scene.project.qa_labels_per_image = 0.05, 3
    db.flush()
    again = freeze(db, scene, name="v2")
    assert "and 3 labels for a random 5% of images (quality checks)" in datasheet.to_markdown(again, scene.project.name)


def test_images_with_disputed_boxes_stay_out_unless_kept_and_the_datasheet_counts_them(db: Session, app) -> None:
    from tests.factories import make_conflict

    scene = build_scene(db, images=40)
    disputed = scene.decided[:3]
    for image in disputed:
        make_conflict(db, image, kind="missing_box")
    version = freeze(db, scene)
    assert version.counts["excluded"]["box_disputes"] == 3 and version.counts["box_disputes_kept"] == 0
    kept = freeze(db, scene, name="kept", exclude_box_disputes=False)
    assert kept.counts["items"] == version.counts["items"] + 3 and kept.counts["box_disputes_kept"] == 3
    text = datasheet.to_markdown(kept, scene.project.name)
    assert "3 such images were kept with the boxes a majority of their labelers drew" in text
    assert "images whose boxes are still in dispute kept" in text
