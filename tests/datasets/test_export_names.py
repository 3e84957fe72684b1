"""Images keep their own file names in every export: made safe, unique within the version, the id beside."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session

from app.datasets.names import NameBook, safe_name
from tests.datasets.helpers import archive, export, freeze, manifest, stem
from tests.datasets.scene import build_scene

FORMATS = ("coco", "yolo", "voc", "csv", "labelstudio", "imagefolder")


@pytest.mark.parametrize(("given", "fmt", "expected"), [
    ("img_000002.jpg", "JPEG", ("img_000002", "jpg")),
    ("IMG_7.JPG", "JPEG", ("IMG_7", "jpg")),          # the extension of the verified format, lower case
    ("scan.jpeg", "JPEG", ("scan", "jpeg")),
    ("poly.html", "JPEG", ("poly", "jpg")),           # never the uploader's extension for another type
    ("a.png", "JPEG", ("a", "jpg")),
    ("v1.2_part", "PNG", ("v1.2_part", "png")),       # no extension to replace
    ("划痕 001.jpeg", "JPEG", ("划痕_001", "jpeg")),  # Chinese stays Chinese
    ("../../x y.tif", "TIFF", ("x_y", "tif")),
    ("CON.png", "PNG", ("_CON", "png")),              # a Windows device name
    ("...", "PNG", ("image", "png")),
    (".hidden.png", "PNG", ("hidden", "png")),
    ("a\u202egnp.exe", "PNG", ("a_gnp", "png")),
])
def test_a_name_is_made_safe_and_keeps_what_it_can(given: str, fmt: str, expected: tuple[str, str]) -> None:
    assert safe_name(given, fmt) == expected


def test_a_long_name_is_cut_to_fit_any_file_system() -> None:
    stem_, ext = safe_name("名" * 300 + ".png", "PNG")
    assert len(stem_.encode()) <= 150 and ext == "png"


def test_collisions_get_the_id_the_first_keeps_its_name(tmp_path) -> None:
    rows = [(5, "train", "part.jpg", "JPEG"), (2, "val", "Part.png", "PNG"), (9, "train", "part-5.jpg", "JPEG"),
            (7, "test", "PART.jpeg", "JPEG"), (3, "train", "other.jpg", "JPEG")]
    with NameBook(tmp_path) as book:
        for row in rows:
            book.add(*row)
        assert book.resolve() == 2
        renamed = dict(book.renamed())
        assert renamed == {5: "part-5-5", 7: "PART-7"}  # 2 keeps "Part"; "part-5" was taken by image 9
        assert dict(book.renamed("test")) == {7: "PART-7"}
    assert not list(tmp_path.iterdir())  # the temporary file is gone


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_images_by_their_own_unique_names(db: Session, app, fmt: str) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=60, storage=storage)
    version = freeze(db, scene)
    zf = archive(storage, export(db, storage, version, fmt, images=True))
    rows = manifest(zf)
    listed = {i: r for i, r in rows.items() if r["path"]}
    stems = [stem(r["path"]).casefold() for r in listed.values()]
    assert len(stems) == len(set(stems)), "two images share a name (or differ only in case or extension)"
    owners: dict[str, list[int]] = {}
    for image_id in sorted(rows):
        owners.setdefault(safe_name(rows[image_id]["file_name"], "PNG")[0].casefold(), []).append(image_id)
    for image_id, row in listed.items():
        assert row["path"] in zf.namelist()  # the image itself is where the manifest says
        safe_stem, _ = safe_name(row["file_name"], "PNG")
        name = row["path"].rsplit("/", 1)[-1]
        assert name.endswith(".png")
        if owners[safe_stem.casefold()][0] == image_id:  # the first of a name keeps it
            assert stem(name) == safe_stem
        else:
            assert stem(name) == f"{safe_stem}-{image_id}"
    assert any("划痕" in r["path"] for r in listed.values())
    assert any(stem(r["path"]) == "part" for r in listed.values())


def test_the_csv_and_the_manifest_name_the_same_files(db: Session, app) -> None:
    storage = app.state.storage
    version = freeze(db, build_scene(db, images=30, storage=storage))
    zf = archive(storage, export(db, storage, version, "csv", images=True))
    rows = manifest(zf)
    for row in csv.DictReader(io.StringIO(zf.read("annotations.csv").decode())):
        assert row["image"] == rows[int(row["image_id"])]["path"]
        assert row["file_name"] == rows[int(row["image_id"])]["file_name"]
