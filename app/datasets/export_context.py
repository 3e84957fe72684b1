"""What a format writer sees: the frozen version's facts and a page-by-page stream of its items."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from app.core.paging import keyset
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.names import NameBook, merged, safe_name
from app.datasets.splits import SPLITS
from app.images.models import Image

TICK = 1000  # items between progress reports
LARGE_ITEMS = 2_000_000  # above this many items, streamed label files are written as zip64

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FrozenClass:
    id: int
    name: str
    index: int  # 0-based position: YOLO ids; COCO category id = index + 1
    definition: str = ""


@dataclass(slots=True)  # built once per row per pass: slots, and not frozen (frozen __init__ is slow)
class ExportItem:
    image_id: int
    split: str
    class_id: int | None
    boxes: list[dict[str, Any]]  # pixels, clipped to the image: x, y, w, h, class_id
    width: int
    height: int
    sha256: str
    stem: str  # the image's file name in the export, unique in the version (names.py), without extension
    ext: str  # the extension of the verified format
    storage_key: str
    file_name: str  # the uploader's name, as given: data for a cell, never a path
    meta: dict[str, Any]
    source: str
    confidence: float | None

    @property
    def image_file(self) -> str:
        return f"{self.stem}.{self.ext}"


@dataclass
class ExportContext:
    db: Session
    version: DatasetVersion
    project_name: str
    include_images: bool
    classes: list[FrozenClass]
    progress: Progress | None = None
    done: int = 0
    total: int = 0
    by_id: dict[int, FrozenClass] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # what a format computes once per export
    names: NameBook | None = None  # the images renamed to stay unique (build_names); None: none are
    options: dict[str, Any] = field(default_factory=dict)  # the export's options (schemas.ExportOptions)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.classes}

    @property
    def items_count(self) -> int:
        return int(self.version.counts.get("items", 0))

    @property
    def large(self) -> bool:
        return self.items_count > LARGE_ITEMS

    def split_names(self) -> list[str]:
        return [s for s in SPLITS if self.version.counts.get("splits", {}).get(s, 0)]

    def class_name(self, class_id: int | None) -> str | None:
        return None if class_id is None else self.by_id[class_id].name

    def items(self, split: str | None = None, *, boxes: bool = True, meta: bool = False) -> Iterator[ExportItem]:
        """The version's items in image id order (one split, or all), counted towards progress.

        Boxes and metadata are JSON to decode on every row: a pass that does not need them says so.
        """
        columns = [DatasetItem.image_id, DatasetItem.split, DatasetItem.label_class_id, Image.width, Image.height,
                   Image.sha256, Image.format, Image.storage_key, Image.file_name, DatasetItem.source,
                   DatasetItem.confidence, DatasetItem.boxes if boxes else null(),
                   Image.meta if meta else null()]
        stmt = (select(*columns).join(Image, Image.id == DatasetItem.image_id)
                .where(DatasetItem.version_id == self.version.id))
        if split is not None:
            stmt = stmt.where(DatasetItem.split == split)
        renamed = merged(self.names.renamed(split) if self.names is not None else ())
        pending = 0
        for row in keyset(self.db, stmt, DatasetItem.image_id):
            stem, ext = safe_name(row[8], row[6])
            yield ExportItem(image_id=row[0], split=row[1], class_id=row[2], width=row[3], height=row[4],
                             sha256=row[5], stem=renamed.get(row[0]) or stem, ext=ext, storage_key=row[7],
                             file_name=row[8], source=row[9], confidence=row[10], boxes=row[11] or [],
                             meta=row[12] or {})
            pending += 1
            if pending == TICK:
                self.tick(pending)
                pending = 0
        self.tick(pending)

    def build_names(self, book: NameBook) -> None:
        """One pass over the version's file names: `book` learns which images must be renamed."""
        stmt: Any = (select(DatasetItem.image_id, DatasetItem.split, Image.file_name, Image.format)
                .join(Image, Image.id == DatasetItem.image_id).where(DatasetItem.version_id == self.version.id))
        pending = 0
        for image_id, split, file_name, fmt in keyset(self.db, stmt, DatasetItem.image_id):
            book.add(image_id, split, file_name, fmt)
            pending += 1
            if pending == TICK:
                self.tick(pending)
                pending = 0
        self.tick(pending)
        book.resolve()
        self.names = book

    def tick(self, count: int) -> None:
        self.done += count
        if self.progress is not None and count:
            self.progress(min(self.done, self.total), self.total)


def frozen_classes(version: DatasetVersion) -> list[FrozenClass]:
    return [FrozenClass(id=c["id"], name=c["name"], index=i, definition=c.get("definition", ""))
            for i, c in enumerate(version.datasheet.get("classes", []))]
