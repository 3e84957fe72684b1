"""Hostile import files (reliability #7, #11, #28 for imports): image references that climb out of the
images root, absolute paths, encoded traversal, symlinks, URLs, unknown classes. The import is refused
whole (a 422 Invalid naming the field), stores nothing, and never even opens a file outside the root:
a Python audit hook watches every open() while the import runs.

Imports run from the CLI (`concord import labelstudio|coco`); these tests call the same service the
CLI calls, in the CLI's transaction pattern (run, commit; on error roll back and discard the files)."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ConcordError, Invalid
from app.core.storage import LocalStorage
from app.images import imports
from app.images.importers import coco, labelstudio
from app.images.importers.paths import ImagesRoot
from tests.factories import image_bytes, make_project
from tests.hostile.conftest import Stored, files_under
from tests.security.walk import row_counts

_WATCH: list[list[str]] = []  # while non-empty, every path opened is appended to the last list


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCH and isinstance(args[0], str | bytes | Path):
        _WATCH[-1].append(str(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed; it does nothing while _WATCH is empty


@contextmanager
def opened_files() -> Iterator[list[str]]:
    seen: list[str] = []
    _WATCH.append(seen)
    try:
        yield seen
    finally:
        _WATCH.pop()


class Place:
    """A project; an images root with one good image, and a secret image beside it (outside the root)."""

    def __init__(self, db: Session, tmp_path: Path) -> None:
        self.project = make_project(db)
        db.commit()  # the project stays; the import's own writes are what a failure must undo
        self.root = tmp_path / "export" / "images"
        self.root.mkdir(parents=True)
        (self.root / "a.png").write_bytes(image_bytes(100, 50, (10, 20, 30)))
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "secret.png"
        self.secret.write_bytes(image_bytes(100, 50, (200, 0, 0)))
        (self.root / "link.png").symlink_to(self.secret)
        (self.root / "sub").mkdir()
        (self.root / "sub" / "up").symlink_to(self.outside, target_is_directory=True)
        self.settings = Settings(database_url="sqlite://", data_dir=tmp_path / "data")
        self.storage = LocalStorage(self.settings.media_dir)

    def stored(self, db: Session) -> Stored:
        return Stored(row_counts(db), files_under(self.settings.media_dir), files_under(self.settings.data_dir / "tmp"))


def ls_task(image: str, choice: str = "dent") -> dict[str, Any]:
    return {"id": 1, "data": {"image": image}, "annotations": [{
        "id": 7, "completed_by": {"id": 3, "email": "ana@example.com"},
        "result": [{"type": "choices", "value": {"choices": [choice]}}]}]}


def coco_file(file_name: str, category: str = "dent") -> dict[str, Any]:
    return {"images": [{"id": 1, "file_name": file_name, "width": 100, "height": 50}],
            "categories": [{"id": 1, "name": category}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}]}


def run_import(db: Session, place: Place, kind: str, document: Any) -> None:
    report = imports.ImportReport()
    common: dict[str, Any] = {"storage": place.storage, "settings": place.settings, "project": place.project,
                              "root": ImagesRoot(place.root), "report": report}
    try:
        if kind == "labelstudio":
            imports.import_labelstudio(db, parsed=labelstudio.parse_tasks(document), **common)
        else:
            imports.import_coco(db, coco=coco.parse(document), labeler_email="ana@example.com", **common)
        db.commit()
    except ConcordError:
        imports.discard(db, place.storage, report)
        raise


TRAVERSALS: list[tuple[str, Callable[[Place], str]]] = [
    ("dot-dot", lambda p: "../../outside/secret.png"),
    ("dot-dot-inside-path", lambda p: "a/../../../outside/secret.png"),
    ("absolute-path-to-the-secret", lambda p: str(p.secret)),
    ("url-encoded-dot-dot", lambda p: "..%2F..%2Foutside%2Fsecret.png"),
    ("double-encoded-dot-dot", lambda p: "%252e%252e%252f%252e%252e%252foutside%252fsecret.png"),
    ("backslashes", lambda p: "..\\..\\outside\\secret.png"),
    ("label-studio-local-files", lambda p: "/data/local-files/?d=../../outside/secret.png"),
    ("label-studio-local-files-absolute", lambda p: f"/data/local-files/?d={p.secret}"),
    ("file-url", lambda p: f"file://{p.secret}"),
    ("nul-byte", lambda p: "a.png\x00/../../outside/secret.png"),
    ("symlink-to-the-secret", lambda p: "link.png"),
    ("symlinked-directory", lambda p: "sub/up/secret.png"),
    ("metadata-service-url", lambda p: "http://169.254.169.254/latest/meta-data/secret.png"),
    ("loopback-url", lambda p: "http://127.0.0.1:5432/secret.png"),
]


@pytest.mark.parametrize("kind", ["labelstudio", "coco"])
@pytest.mark.parametrize("reference", [t[1] for t in TRAVERSALS], ids=[t[0] for t in TRAVERSALS])
def test_an_import_never_reads_outside_its_images_root(db: Session, tmp_path: Path, kind: str,
                                                       reference: Callable[[Place], str]) -> None:
    place = Place(db, tmp_path)
    document = ls_task(reference(place)) if kind == "labelstudio" else coco_file(reference(place))
    before = place.stored(db)
    with opened_files() as seen, pytest.raises(Invalid) as refused:
        run_import(db, place, kind, document)
    assert refused.value.status_code == 422 and refused.value.field, refused.value.message
    assert not [p for p in seen if "outside" in p or "secret" in p], seen
    after = place.stored(db)
    assert after.media == before.media == () and after.tmp == before.tmp
    assert after.rows == before.rows


@pytest.mark.parametrize("kind", ["labelstudio", "coco"])
def test_an_import_naming_an_unknown_class_is_refused_whole(db: Session, tmp_path: Path, kind: str) -> None:
    place = Place(db, tmp_path)
    name = "<script>alert(1)</script>"
    document = ls_task("a.png", choice=name) if kind == "labelstudio" else coco_file("a.png", category=name)
    before = place.stored(db)
    with pytest.raises(Invalid) as refused:
        run_import(db, place, kind, document)
    assert "<script>" in refused.value.message or refused.value.field
    after = place.stored(db)
    assert after.media == before.media and after.rows == before.rows


@pytest.mark.parametrize(("kind", "document"), [
    ("labelstudio", {"tasks": "not a list"}),
    ("labelstudio", [{"id": 1, "data": {"image": ["a.png"]}, "annotations": []}]),
    ("coco", {"images": [{"id": 1, "file_name": "a.png", "width": -1, "height": 50}], "categories": [],
              "annotations": []}),
    ("coco", {"images": [], "categories": [{"id": 1, "name": "dent"}],
              "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [float("nan"), 0, 1, 1]}]}),
], ids=["ls-not-a-list", "ls-image-not-text", "coco-negative-width", "coco-nan-box"])
def test_a_malformed_import_file_is_refused_naming_the_field(db: Session, tmp_path: Path, kind: str,
                                                             document: Any) -> None:
    place = Place(db, tmp_path)
    before = place.stored(db)
    with pytest.raises(Invalid) as refused:
        run_import(db, place, kind, json.loads(json.dumps(document)))
    assert refused.value.field
    after = place.stored(db)
    assert after.media == before.media and after.rows == before.rows


def test_the_good_reference_imports(db: Session, tmp_path: Path) -> None:
    """The controls: the same import naming the image inside the root goes in, and the watcher sees it read."""
    place = Place(db, tmp_path)
    with opened_files() as seen:
        run_import(db, place, "labelstudio", ls_task("a.png"))
    assert len(files_under(place.settings.media_dir)) == 2
    assert any(p.endswith("a.png") for p in seen), seen
