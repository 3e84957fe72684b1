"""Label Studio and COCO imports: every label of the shared workload intact; malformed input refused
whole, naming the field; never a file read outside the images root (#11 for our importers)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Membership, User
from app.cli.imports import read_metadata
from app.core.config import Settings
from app.core.errors import ConcordError, Invalid
from app.core.storage import LocalStorage
from app.images import imports
from app.images.importers import coco, labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass
from tests.factories import image_bytes, make_project

CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


def import_env(tmp_path: Path) -> tuple[Settings, LocalStorage]:
    """Settings and storage of an import: media under the test's own directory."""
    settings = Settings(database_url="sqlite://", data_dir=tmp_path / "data")
    return settings, LocalStorage(settings.media_dir)


@pytest.fixture
def env(tmp_path: Path) -> tuple[Settings, LocalStorage]:
    return import_env(tmp_path)


def counts(db: Session, project_id: int) -> tuple[int, int, int]:
    images = db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project_id))
    live = db.scalars(
        select(Annotation)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None))
    ).all()
    return images, len(live), sum(len(a.boxes) for a in live)


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.media_dir.rglob("*") if p.is_file()] if settings.media_dir.exists() else []


def run_labelstudio(db: Session, env, root: Path, project, **kwargs):
    settings, storage = env
    report = imports.ImportReport()
    try:
        return imports.import_labelstudio(
            db,
            storage=storage,
            settings=settings,
            project=project,
            parsed=labelstudio.load(root / "tasks.labelstudio.json"),
            root=ImagesRoot(root),
            report=report,
            **kwargs,
        )
    except ConcordError:
        imports.discard(db, storage, report)
        raise


def test_the_workload_imports_with_every_label_intact(db: Session, env, inspection_set: Path) -> None:
    manifest = json.loads((inspection_set / "manifest.json").read_text())
    project = make_project(db, classes=CLASSES, labels_per_image=3)
    gold = json.loads((inspection_set / "gold.json").read_text())
    report = run_labelstudio(
        db, env, inspection_set, project, gold=gold, metadata=read_metadata(inspection_set / "metadata.csv")
    )
    want = manifest["counts"]
    assert counts(db, project.id) == (want["images"], want["annotations"], want["annotation_boxes"])
    assert (report.images, report.annotations, report.boxes, report.gold) == (
        want["images"],
        want["annotations"],
        want["annotation_boxes"],
        want["gold"],
    )
    emails = set(json.loads((inspection_set / "annotators.json").read_text()))
    users = db.scalars(select(User).where(User.email.in_(emails))).all()
    assert len(users) == want["annotators"] and not any(u.is_active or u.password_hash for u in users)
    assert db.scalar(select(func.count()).select_from(Membership).where(Membership.project_id == project.id)) == len(
        users
    )
    images = {i.file_name: i for i in db.scalars(select(Image).where(Image.project_id == project.id))}
    assert {name for name, i in images.items() if i.is_gold} == {g["file_name"] for g in gold}
    assert all(i.labels_wanted == 0 for i in images.values() if i.is_gold)
    assert all(i.slots_taken == 3 for i in images.values())  # three imported answers each: nothing to assign
    with (inspection_set / "metadata.csv").open() as handle:
        first = next(csv.DictReader(handle))
    assert images[first["file_name"]].meta["line"] == first["line"]
    assert images[first["file_name"]].meta["drift"] == first["drift"]
    _check_pixels_against_the_csv(db, inspection_set, images)


def _check_pixels_against_the_csv(db: Session, root: Path, images: dict[str, Image]) -> None:
    """Percent -> pixels: each box equals annotations.csv (pixels, 2 decimals) within 0.01 px."""
    names = {c.id: c.name for c in db.scalars(select(LabelClass))}
    ours: dict[tuple[str, str], list[tuple[str, float, float, float, float]]] = {}
    for annotation, email in db.execute(
        select(Annotation, User.email)
        .join(User, User.id == Annotation.labeler_id)
        .where(Annotation.image_id.in_([i.id for i in images.values()]))
    ):
        name = next(n for n, i in images.items() if i.id == annotation.image_id)
        ours[(name, email)] = sorted((names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in annotation.boxes)
    theirs: dict[tuple[str, str], list[tuple[str, float, float, float, float]]] = {}
    with (root / "annotations.csv").open() as handle:
        for row in csv.DictReader(handle):
            boxes = theirs.setdefault((row["image"], row["annotator"]), [])
            if row["x"]:
                boxes.append((row["class"], float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"])))
    assert ours.keys() == theirs.keys()
    for key, boxes in theirs.items():
        mine = ours[key]
        assert len(mine) == len(boxes)
        for a, b in zip(sorted(boxes), mine, strict=True):
            assert a[0] == b[0] and all(abs(x - y) <= 0.011 for x, y in zip(a[1:], b[1:], strict=True)), key


def test_importing_the_same_export_twice_adds_nothing(db: Session, env, inspection_set: Path) -> None:
    project = make_project(db, classes=CLASSES)
    run_labelstudio(db, env, inspection_set, project)
    db.commit()
    before = counts(db, project.id)
    with pytest.raises(imports.KnownAnswers, match=f"{before[1]} of the {before[1]} answers"):
        run_labelstudio(db, env, inspection_set, project)
    assert counts(db, project.id) == before
    again = run_labelstudio(db, env, inspection_set, project, skip_existing=True)
    assert counts(db, project.id) == before
    assert (again.images_new, again.annotations, again.annotations_existing) == (0, 0, before[1])


def test_coco_imports_as_one_labeler(db: Session, env, inspection_set: Path) -> None:
    settings, storage = env
    project = make_project(db, classes=CLASSES)
    parsed = coco.load(inspection_set / "truth.coco.json")
    report = imports.import_coco(
        db,
        storage=storage,
        settings=settings,
        project=project,
        coco=parsed,
        root=ImagesRoot(inspection_set / "images"),
        labeler_email="Truth@Example.com",
    )
    truth = json.loads((inspection_set / "truth.coco.json").read_text())
    assert counts(db, project.id) == (len(truth["images"]), len(truth["images"]), len(truth["annotations"]))
    assert report.users_created == ["truth@example.com"]
    names = {c.id: c.name for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project.id))}
    by_file = {i.id: i.file_name for i in db.scalars(select(Image).where(Image.project_id == project.id))}
    for annotation in db.scalars(select(Annotation)):
        assert names[annotation.label_class_id] == truth["image_labels"][by_file[annotation.image_id]]


def make_export(tmp_path: Path, tasks: list[dict]) -> Path:
    (tmp_path / "images").mkdir(parents=True, exist_ok=True)
    (tmp_path / "images" / "a.png").write_bytes(image_bytes(100, 50, (10, 20, 30)))
    (tmp_path / "tasks.labelstudio.json").write_text(json.dumps(tasks))
    return tmp_path


def task(**override) -> dict:
    base = {
        "id": 1,
        "data": {"image": "images/a.png", "line": "L1"},
        "annotations": [
            {
                "id": 7,
                "completed_by": {"id": 3, "email": "new@example.com", "first_name": "Ana", "last_name": "B"},
                "result": [
                    {"type": "choices", "value": {"choices": ["dent"]}},
                    {
                        "type": "rectanglelabels",
                        "original_width": 100,
                        "original_height": 50,
                        "value": {
                            "x": 10,
                            "y": 20,
                            "width": 30,
                            "height": 40,
                            "rotation": 0,
                            "rectanglelabels": ["dent"],
                        },
                    },
                ],
                "lead_time": 12.5,
                "created_at": "2024-03-04T08:03:45.748780Z",
            }
        ],
    }
    base.update(override)
    return base


def test_one_task_in_pixels_with_its_author_time_and_duration(db: Session, env, tmp_path: Path) -> None:
    project = make_project(db, classes=CLASSES)
    run_labelstudio(
        db,
        env,
        make_export(
            tmp_path,
            [
                task(),
                task(
                    id=2,
                    annotations=[
                        {
                            "id": 8,
                            "completed_by": 42,
                            "result": [{"type": "choices", "value": {"choices": ["ok"]}}],
                            "was_cancelled": False,
                        },
                        {"id": 9, "completed_by": 43, "result": [], "was_cancelled": True},
                    ],
                ),
            ],
        ),
        project,
    )
    image = db.scalar(select(Image).where(Image.project_id == project.id))
    assert (image.width, image.height, image.meta, image.slots_taken) == (100, 50, {"line": "L1"}, 2)
    first, second = db.scalars(select(Annotation).order_by(Annotation.id)).all()
    dent = db.scalar(select(LabelClass).where(LabelClass.project_id == project.id, LabelClass.name == "dent"))
    assert first.boxes == [{"x": 10.0, "y": 10.0, "w": 30.0, "h": 20.0, "class_id": dent.id}]
    assert (first.label_class_id, first.duration_ms, first.source) == (dent.id, 12500, "import")
    assert first.created_at.isoformat().startswith("2024-03-04T08:03:45")
    authors = [db.get(User, a.labeler_id) for a in (first, second)]
    assert [u.email for u in authors] == ["new@example.com", "labelstudio-user-42@import.invalid"]
    assert authors[0].display_name == "Ana B" and not authors[0].is_active and authors[0].password_hash is None


@pytest.mark.parametrize(
    ("tasks", "field"),
    [
        ({"not": "a list"}, "tasks"),
        ([task(data={"line": "L1"})], "tasks[0].data.image"),
        (
            [task(annotations=[{"completed_by": {"email": "nope"}, "result": []}])],
            "tasks[0].annotations[0].completed_by.email",
        ),
        (
            [
                task(
                    annotations=[
                        {
                            "completed_by": 3,
                            "result": [
                                {
                                    "type": "rectanglelabels",
                                    "value": {"x": "ten", "y": 1, "width": 2, "height": 2, "rectanglelabels": ["dent"]},
                                }
                            ],
                        }
                    ]
                )
            ],
            "tasks[0].annotations[0].result[0].value.x",
        ),
        (
            [
                task(
                    annotations=[
                        {
                            "completed_by": 3,
                            "result": [
                                {
                                    "type": "rectanglelabels",
                                    "value": {"x": 90, "y": 1, "width": 20, "height": 2, "rectanglelabels": ["dent"]},
                                }
                            ],
                        }
                    ]
                )
            ],
            "tasks[0].annotations[0].result[0].value.x",
        ),
        (
            [task(annotations=[{"completed_by": 3, "result": [{"type": "choices", "value": {"choices": []}}]}])],
            "tasks[0].annotations[0].result[0].value.choices",
        ),
        (
            [
                task(),
                task(
                    id=2,
                    annotations=[{"completed_by": 3, "result": [{"type": "choices", "value": {"choices": ["rust"]}}]}],
                ),
            ],
            "tasks[1].annotations",
        ),
        ([task(), task(id=2, data={"image": "../outside.png"})], "tasks[1].data"),
        ([task(), task(id=2, data={"image": "/etc/passwd"})], "tasks[1].data"),
        ([task(), task(id=2, data={"image": "images/missing.png"})], "tasks[1].data"),
    ],
)
def test_malformed_input_is_refused_whole_naming_the_field(db: Session, env, tmp_path: Path, tasks, field: str) -> None:
    settings, _ = env
    project = make_project(db, classes=CLASSES)
    with pytest.raises(Invalid) as caught:
        run_labelstudio(db, env, make_export(tmp_path, tasks), project)
    assert caught.value.field == field, caught.value.message
    assert counts(db, project.id) == (0, 0, 0)
    assert stored_files(settings) == []


def test_a_refused_image_after_good_ones_leaves_nothing(db: Session, env, tmp_path: Path) -> None:
    settings, _ = env
    root = make_export(tmp_path, [task(), task(id=2, data={"image": "images/b.png"})])
    (root / "images" / "b.png").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    project = make_project(db, classes=CLASSES)
    with pytest.raises(Invalid, match=r"b\.png was refused"):
        run_labelstudio(db, env, root, project)
    assert counts(db, project.id) == (0, 0, 0) and stored_files(settings) == []


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(image_bytes())
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.png").symlink_to(outside / "secret.png")
    with pytest.raises(Invalid, match="outside the images root"):
        ImagesRoot(root).resolve("link.png", field="tasks[0].data")


@pytest.mark.parametrize(
    ("reference", "found"),
    [
        ("images/a.png", "images/a.png"),
        ("a.png", "images/a.png"),
        ("/data/local-files/?d=insp/images/a.png", "images/a.png"),
        ("/data/upload/3/a.png", "images/a.png"),
        ("http://169.254.169.254/latest/a.png", "images/a.png"),  # looked up by name, never fetched
    ],
)
def test_references_resolve_inside_the_root(tmp_path: Path, reference: str, found: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"x")
    assert ImagesRoot(tmp_path).resolve(reference, field="f") == (tmp_path / found).resolve()


def test_unknown_classes_can_be_created_on_request(db: Session, env, tmp_path: Path) -> None:
    project = make_project(db, classes=("ok",))
    report = run_labelstudio(db, env, make_export(tmp_path, [task()]), project, create_classes=True)
    assert report.classes_created == ["dent"]
    assert counts(db, project.id) == (1, 1, 1)


@pytest.mark.slow
def test_the_cli_imports_the_workload(tmp_path: Path, inspection_set: Path) -> None:
    """End to end through `concord import labelstudio` on a fresh SQLite file (stdout: the JSON summary)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONCORD_DATA_DIR": str(tmp_path)}
    concord = [sys.executable, "-m", "app.cli"] if not shutil.which("concord") else [shutil.which("concord")]
    run = lambda *args: subprocess.run([*concord, *args], env=env, capture_output=True, text=True, check=True)  # noqa: E731
    run("db", "upgrade")
    run("project", "create", "--name", "Insp", "--classes", ",".join(CLASSES), "--labels-per-image", "3")
    out = run(
        "import",
        "labelstudio",
        "Insp",
        str(inspection_set / "tasks.labelstudio.json"),
        "--images-root",
        str(inspection_set),
        "--metadata",
        str(inspection_set / "metadata.csv"),
        "--gold",
        str(inspection_set / "gold.json"),
        "--workers",
        "2",
    )
    summary = json.loads(out.stdout)
    want = json.loads((inspection_set / "manifest.json").read_text())["counts"]
    assert (summary["images"], summary["annotations"], summary["boxes"]) == (
        want["images"],
        want["annotations"],
        want["annotation_boxes"],
    )
    refused = subprocess.run(
        [
            *concord,
            "import",
            "labelstudio",
            "Insp",
            str(inspection_set / "manifest.json"),
            "--images-root",
            str(inspection_set),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "nothing was imported" in refused.stderr
