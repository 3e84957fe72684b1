"""Imports never lose an answer without a word: idempotency scoped to the project and to what the answer
is, a refusal (or an explicit --skip-existing) when the file holds answers the project has, and the
other import paths (COCO, metadata, gold) refusing what they would otherwise drop or misplace."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.images import imports
from app.images.importers import coco
from app.images.importers.paths import ImagesRoot
from app.images.models import Image
from app.labeling.models import Annotation
from tests.factories import class_named, image_bytes, make_annotation, make_project, make_user
from tests.images.test_imports import CLASSES, counts, import_env, make_export, run_labelstudio, stored_files, task


@pytest.fixture
def env(tmp_path: Path) -> Any:
    return import_env(tmp_path)


def committed_project(db: Session):
    """A project that a refused import's rollback leaves in place."""
    project = make_project(db, classes=CLASSES)
    db.commit()
    return project


def answers_of(db: Session, project_id: int) -> int:
    """Every answer row of the project, superseded ones included."""
    return db.scalar(select(func.count()).select_from(Annotation).join(Image, Image.id == Annotation.image_id)
                     .where(Image.project_id == project_id)) or 0


def idless(choice: str, email: str = "ana@example.com") -> dict[str, Any]:
    """A hand-written task: no task id, no annotation id (both files start at the same positions)."""
    return {"data": {"image": "images/a.png"},
            "annotations": [{"completed_by": {"email": email},
                             "result": [{"type": "choices", "value": {"choices": [choice]}}]}]}


def test_the_same_export_imports_whole_into_a_second_project(db: Session, env, tmp_path: Path) -> None:
    root = make_export(tmp_path, [task(), task(id=2, annotations=[{**task()["annotations"][0], "id": 8,
                                                                      "completed_by": 42}])])
    first, second = committed_project(db), committed_project(db)
    run_labelstudio(db, env, root, first)
    report = run_labelstudio(db, env, root, second)
    assert (report.annotations, report.annotations_existing, report.answers_in_file) == (2, 0, 2)
    assert counts(db, second.id) == counts(db, first.id) == (1, 2, 2)  # one image, two labelers' answers
    assert answers_of(db, second.id) == answers_of(db, first.id) == 2


def test_two_files_without_ids_both_import_in_full(db: Session, env, tmp_path: Path) -> None:
    project = committed_project(db)
    one = make_export(tmp_path / "one", [idless("dent"), idless("ok", "bo@example.com")])
    two = make_export(tmp_path / "two", [idless("pit"), idless("scratch", "bo@example.com")])
    run_labelstudio(db, env, one, project)
    report = run_labelstudio(db, env, two, project)
    assert (report.annotations, report.annotations_existing) == (2, 0)
    assert answers_of(db, project.id) == 4  # two answers each from Ana and Bo: the first ones are history
    live = db.scalars(select(Annotation).where(Annotation.superseded_by_id.is_(None))
                      .order_by(Annotation.labeler_id)).all()
    assert {a.label_class_id for a in live} == {class_named(db, project, "pit").id,
                                                class_named(db, project, "scratch").id}


def test_answers_the_project_has_stop_the_import_unless_the_admin_skips_them(db: Session, env,
                                                                             tmp_path: Path) -> None:
    settings, _storage = env
    project = committed_project(db)
    old = [task()]
    run_labelstudio(db, env, make_export(tmp_path / "old", old), project)
    db.commit()
    before = (answers_of(db, project.id), sorted(p.name for p in stored_files(settings)))
    grown = make_export(tmp_path / "grown", [*old, task(id=2, data={"image": "images/b.png"})])
    (grown / "images" / "b.png").write_bytes(image_bytes(80, 40, (200, 10, 10)))
    with pytest.raises(imports.KnownAnswers, match=r"1 of the 2 answers .* --skip-existing to import only the other 1"):
        run_labelstudio(db, env, grown, project)
    assert (answers_of(db, project.id), sorted(p.name for p in stored_files(settings))) == before
    report = run_labelstudio(db, env, grown, project, skip_existing=True)
    assert (report.answers_in_file, report.annotations, report.annotations_existing) == (2, 1, 1)
    assert answers_of(db, project.id) == 2
    again = run_labelstudio(db, env, grown, project, skip_existing=True)
    assert (again.annotations, again.annotations_existing) == (0, 2) and answers_of(db, project.id) == 2


def test_answers_imported_under_the_old_keys_are_recognised(db: Session, env, tmp_path: Path) -> None:
    """Imports made before content keys stored `ls:<task id>:<annotation id>`: the same file is known."""
    project = committed_project(db)
    root = make_export(tmp_path, [task()])
    run_labelstudio(db, env, root, project)
    (annotation,) = db.scalars(select(Annotation)).all()
    annotation.idempotency_key = "ls:1:7"
    db.flush()
    report = run_labelstudio(db, env, root, project, skip_existing=True)
    assert (report.annotations, report.annotations_existing) == (0, 1)


def test_an_older_imported_answer_goes_beneath_the_newer_live_one(db: Session, env, tmp_path: Path) -> None:
    project = committed_project(db)
    root = make_export(tmp_path, [task()])
    run_labelstudio(db, env, make_export(tmp_path / "first", [task(annotations=[])]), project)  # the image only
    image = db.scalar(select(Image).where(Image.project_id == project.id))
    ana = make_user(db, email="new@example.com", password=None)
    ana.is_active = False
    newer = make_annotation(db, image, ana, class_named(db, project, "ok"))  # labeled today on the web
    report = run_labelstudio(db, env, root, project)  # Ana's answer of 2024
    assert (report.annotations, report.annotations_as_history) == (1, 1)
    db.refresh(newer)
    assert newer.superseded_by_id is None
    older = db.scalar(select(Annotation).where(Annotation.id != newer.id))
    assert older.superseded_by_id == newer.id and older.created_at.year == 2024


@pytest.mark.parametrize("field", ["choices", "rectanglelabels"])
def test_an_answer_concord_could_keep_only_part_of_is_refused(db: Session, env, tmp_path: Path, field: str) -> None:
    tasks = [task()]
    result = tasks[0]["annotations"][0]["result"][0 if field == "choices" else 1]["value"]
    result[field] = ["dent", "pit"]
    with pytest.raises(Invalid) as caught:
        run_labelstudio(db, env, make_export(tmp_path, tasks), committed_project(db))
    assert caught.value.field.endswith(f"value.{field}") and "2 " in caught.value.message


# ---- COCO ------------------------------------------------------------------------------------------------

def coco_doc(name: str, box: list[float], *, coco_id: int = 1) -> dict[str, Any]:
    return {"images": [{"id": coco_id, "file_name": name, "width": 100, "height": 50}],
            "categories": [{"id": 1, "name": "dent"}],
            "annotations": [{"id": 1, "image_id": coco_id, "category_id": 1, "bbox": box}]}


def run_coco(db: Session, env, root: Path, project, document: dict[str, Any], **kwargs: Any) -> imports.ImportReport:
    settings, storage = env
    report = imports.ImportReport()
    try:
        return imports.import_coco(db, storage=storage, settings=settings, project=project, coco=coco.parse(document),
                                   root=ImagesRoot(root), labeler_email="ana@example.com", report=report, **kwargs)
    except Exception:
        imports.discard(db, storage, report)
        raise


def test_two_coco_files_of_one_labeler_and_a_second_project_import_in_full(db: Session, env, tmp_path: Path) -> None:
    root = make_export(tmp_path, [])
    (root / "images" / "b.png").write_bytes(image_bytes(100, 50, (90, 90, 9)))
    project, other = committed_project(db), committed_project(db)
    run_coco(db, env, root, project, coco_doc("images/a.png", [1, 1, 10, 10]))
    second = run_coco(db, env, root, project, coco_doc("images/b.png", [5, 5, 20, 20]))  # its ids start at 1 too
    assert (second.annotations, second.annotations_existing) == (1, 0)
    assert counts(db, project.id) == (2, 2, 2)
    elsewhere = run_coco(db, env, root, other, coco_doc("images/a.png", [1, 1, 10, 10]))
    assert (elsewhere.annotations, counts(db, other.id)) == (1, (1, 1, 1))
    with pytest.raises(imports.KnownAnswers):
        run_coco(db, env, root, other, coco_doc("images/a.png", [1, 1, 10, 10]))


def test_a_coco_class_for_a_file_the_images_do_not_have_is_refused(db: Session, env, tmp_path: Path) -> None:
    document = {**coco_doc("images/a.png", [1, 1, 10, 10]), "image_labels": {"images/a.png": "dent",
                                                                             "images/typo.png": "pit"}}
    with pytest.raises(Invalid) as caught:
        coco.parse(document)
    assert caught.value.field == "image_labels.images/typo.png"


# ---- metadata and gold ------------------------------------------------------------------------------------

def two_folders(tmp_path: Path) -> Path:
    """Two different images with one bare name, in two folders, each with its own task."""
    root = tmp_path / "export"
    for n, folder in enumerate(("line1", "line2")):
        (root / folder).mkdir(parents=True)
        (root / folder / "img.png").write_bytes(image_bytes(60, 40, (n * 100, 50, 50)))
    (root / "tasks.labelstudio.json").write_text(json.dumps([
        {**copy.deepcopy(task(id=n + 1)), "data": {"image": f"{folder}/img.png"}}
        for n, folder in enumerate(("line1", "line2"))]))
    return root


def test_metadata_goes_to_the_file_its_path_names(db: Session, env, tmp_path: Path) -> None:
    project = committed_project(db)
    root = two_folders(tmp_path)
    run_labelstudio(db, env, root, project, skip_existing=True,
                    metadata={"line1/img.png": {"line": "L1"}, "line2/img.png": {"line": "L2"}})
    lines = {i.meta["line"] for i in db.scalars(select(Image).where(Image.project_id == project.id))}
    assert lines == {"L1", "L2"}


@pytest.mark.parametrize(("rows", "says"), [
    ({"img.png": {"line": "L1"}}, "names 2 files"),  # which of the two? it went to both
    ({"line1/img.png": {"line": "L1"}, "line3/img.png": {"line": "L3"}}, "1 row name no file"),
])
def test_metadata_that_would_be_lost_or_misplaced_is_refused(db: Session, env, tmp_path: Path,
                                                             rows: dict[str, Any], says: str) -> None:
    project = committed_project(db)
    with pytest.raises(Invalid, match=says):
        run_labelstudio(db, env, two_folders(tmp_path), project, metadata=rows)
    assert counts(db, project.id) == (0, 0, 0)


def test_gold_naming_two_images_or_changing_a_known_answer_is_refused(db: Session, env, tmp_path: Path) -> None:
    project = committed_project(db)
    root = two_folders(tmp_path)
    with pytest.raises(Invalid, match="names 2 different images"):
        run_labelstudio(db, env, root, project, gold=[{"file_name": "img.png", "class": "dent"}])
    run_labelstudio(db, env, root, project, gold=[{"file_name": "line1/img.png", "class": "dent"}])
    db.commit()
    again = run_labelstudio(db, env, root, project, skip_existing=True,
                            gold=[{"file_name": "line1/img.png", "class": "dent"}])
    assert again.gold == 1  # the same known answer: nothing changes
    db.commit()
    with pytest.raises(Invalid, match="gold already, with another answer"):
        run_labelstudio(db, env, root, project, skip_existing=True,
                        gold=[{"file_name": "line1/img.png", "class": "pit"}])
    gold = db.scalars(select(Image).where(Image.project_id == project.id, Image.is_gold.is_(True))).all()
    assert [g.gold_label_class_id for g in gold] == [class_named(db, project, "dent").id]


# ---- the command line -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_cli_refuses_a_known_file_with_its_counts_and_skips_on_request(tmp_path: Path) -> None:
    root = make_export(tmp_path / "export", [task()])
    environ = {**os.environ, "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
               "CONCORD_DATA_DIR": str(tmp_path)}

    def concord(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=environ, capture_output=True, text=True)

    assert concord("db", "upgrade").returncode == 0
    assert concord("project", "create", "--name", "P", "--classes", ",".join(CLASSES)).returncode == 0
    tasks = str(root / "tasks.labelstudio.json")
    assert concord("import", "labelstudio", "P", tasks, "--images-root", str(root), "--workers", "1").returncode == 0
    refused = concord("import", "labelstudio", "P", tasks, "--images-root", str(root), "--workers", "1")
    report = json.loads(refused.stdout)
    assert refused.returncode == 1 and "--skip-existing" in refused.stderr
    assert (report["imported"], report["answers_in_file"], report["annotations_existing"]) == (False, 1, 1)
    skipped = concord("import", "labelstudio", "P", tasks, "--images-root", str(root), "--workers", "1",
                      "--skip-existing")
    assert skipped.returncode == 0 and json.loads(skipped.stdout)["annotations_existing"] == 1


def test_import_images_refuses_metadata_it_would_drop_or_give_to_two_files(cli_env, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import root

    folder = two_folders(tmp_path)
    runner = CliRunner()
    assert runner.invoke(root, ["project", "create", "--name", "P", "--classes", "ok,dent"]).exit_code == 0

    def run(csv_text: str) -> Any:
        (tmp_path / "metadata.csv").write_text(csv_text)
        return runner.invoke(root, ["import", "images", "P", str(folder), "--metadata", str(tmp_path / "metadata.csv"),
                                    "--workers", "1"])

    for csv_text, says in [
        ("file_name,line\nline1/img.png,L1\nline1/img.png,L9\n", "line 3: line1/img.png is described on line 2"),
        ("file_name,line\nimg.png,L1\n", "names 2 files"),
        ("file_name,line\nline1/img.png,L1\nlnie2/img.png,L2\n", "1 row name no file"),
    ]:
        refused = run(csv_text)
        assert refused.exit_code == 1 and says in " ".join(refused.output.split()), refused.output
    with Session(cli_env) as db:
        assert db.scalar(select(func.count()).select_from(Image)) == 0
    stored = run("file_name,line\nline1/img.png,L1\nline2/img.png,L2\n")
    assert stored.exit_code == 0, stored.output
    with Session(cli_env) as db:
        assert sorted(i.meta["line"] for i in db.scalars(select(Image))) == ["L1", "L2"]
