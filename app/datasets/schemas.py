"""What the dataset API takes and gives (Pydantic v2)."""
from __future__ import annotations

import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.datasets.splits import DEFAULT_FRACTIONS, SPLITS


class ExportFormat(StrEnum):
    coco = "coco"
    yolo = "yolo"
    voc = "voc"
    csv = "csv"
    labelstudio = "labelstudio"
    imagefolder = "imagefolder"


FORMAT_TITLES = {
    ExportFormat.coco: "COCO detection JSON",
    ExportFormat.yolo: "YOLO (Ultralytics)",
    ExportFormat.voc: "Pascal VOC XML",
    ExportFormat.csv: "CSV (a row per box)",
    ExportFormat.labelstudio: "Label Studio JSON",
    ExportFormat.imagefolder: "ImageFolder (classification)",
}


# The writers' version: bump it when any format's bytes change for the same version and options, so
# that exports stored by an older writer are made again rather than served.
WRITER_VERSION = 2


class ImageSource(StrEnum):
    """How Label Studio tasks name their images (`data.image`)."""

    local_files = "local_files"  # /data/local-files/?d=<root>/images/<name>: Label Studio serves the folder
    url = "url"  # <prefix><name>: any web server that holds the images


IMAGE_SOURCE_TITLES = {
    ImageSource.local_files: "local files (a folder Label Studio serves)",
    ImageSource.url: "a URL prefix (any web server)",
}
_ROOT = re.compile(r"[\w.-]+(?:/[\w.-]+)*")


class ExportOptions(BaseModel):
    """The admin's choices for one export. Only Label Studio has any: where its tasks find the images.

    local_files: `image_root` is the folder, under Label Studio's LOCAL_FILES_DOCUMENT_ROOT, into which
    the archive is unpacked (empty: the document root itself); each task's image is
    `/data/local-files/?d=<root>/images/<name>`. url: `image_root` is a prefix (`https://host/path/` or
    `/path/`) the image file names are appended to.
    """

    model_config = ConfigDict(extra="forbid")

    image_source: ImageSource = ImageSource.local_files
    image_root: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _root(self) -> ExportOptions:
        root = self.image_root.strip()
        if self.image_source is ImageSource.url:
            if not root.startswith(("http://", "https://", "/")) or any(c.isspace() for c in root):
                raise ValueError("a URL prefix starts with http://, https:// or / and holds no spaces")
        else:
            root = root.strip("/")
            if root and (not _ROOT.fullmatch(root) or ".." in root.split("/")):
                raise ValueError("the local-files root is a relative folder (letters, digits, _ . - and /), "
                                 "without '..'")
        self.image_root = root
        return self

    def stored(self, fmt: ExportFormat) -> dict[str, Any]:
        """What is recorded with (and identifies) the export: the writer's version and the options that
        matter to this format."""
        mine = {"image_source": self.image_source.value, "image_root": self.image_root}
        return {"writer": WRITER_VERSION, **(mine if fmt is ExportFormat.labelstudio else {})}


def export_options(*, image_source: ImageSource | str, image_root: str) -> ExportOptions:
    """Options from a form or the command line; Invalid (naming `image_root`) when the root or prefix
    will not do."""
    from app.core.errors import Invalid

    try:
        return ExportOptions(image_source=ImageSource(image_source), image_root=image_root)
    except ValidationError as exc:
        raise Invalid(exc.errors()[0]["msg"].removeprefix("Value error, "), field="image_root") from exc


class FreezeFilter(BaseModel):
    """Which final labels go into a version. Only decided labels (a FinalLabel) ever do."""

    model_config = ConfigDict(extra="forbid")

    exclude_ambiguous: bool = True
    exclude_unresolved: bool = True  # images (or their group) with an open or returned conflict about the class
    # images with an open conflict about their boxes (a reviewer decided the class only): kept, they
    # carry the boxes a majority of their labelers drew; the datasheet counts them either way
    exclude_box_disputes: bool = True
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    class_ids: list[int] | None = None  # None: every class; else images of these classes, their boxes only
    slices: dict[str, list[str]] = Field(default_factory=dict)  # metadata key -> accepted values
    include_augmented: bool = False

    @field_validator("slices")
    @classmethod
    def _slices(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        clean = {k.strip(): sorted({v.strip() for v in vs if v.strip()}) for k, vs in value.items() if k.strip()}
        if any(not vs for vs in clean.values()):
            raise ValueError("each metadata slice needs at least one value")
        if len(clean) > 20 or any(len(k) > 64 for k in clean):
            raise ValueError("at most 20 slice keys of up to 64 characters")
        return dict(sorted(clean.items()))

    @field_validator("class_ids")
    @classmethod
    def _classes(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else sorted(set(value))


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: float = Field(default=DEFAULT_FRACTIONS["train"], ge=0.0, le=1.0)
    val: float = Field(default=DEFAULT_FRACTIONS["val"], ge=0.0, le=1.0)
    test: float = Field(default=DEFAULT_FRACTIONS["test"], ge=0.0, le=1.0)
    seed: int = Field(default=0, ge=0, le=2**31)

    @model_validator(mode="after")
    def _sums(self) -> SplitSpec:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + val + test must be 1 (got {total:g})")
        return self

    def fractions(self) -> dict[str, float]:
        return {s: getattr(self, s) for s in SPLITS}


class FreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=5000)
    filter: FreezeFilter = Field(default_factory=FreezeFilter)
    split: SplitSpec = Field(default_factory=SplitSpec)
    # freeze in this request even when it is big (a job runner would otherwise take it)
    wait: bool = Field(default=False, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a version needs a name")
        return value


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    number: int
    name: str
    description: str
    filter: dict[str, Any]
    split_spec: dict[str, Any]
    content_hash: str
    parent_id: int | None
    defect_book_version: int | None
    counts: dict[str, Any]
    created_at: datetime


class ItemOut(BaseModel):
    image_id: int
    class_id: int | None
    class_name: str | None = Field(alias="class")
    boxes: list[dict[str, Any]]
    split: str
    source: str  # where the final label came from
    confidence: float | None


class ItemsPage(BaseModel):
    items: list[ItemOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last page")


class ClassDeltaOut(BaseModel):
    name: str
    before: int
    after: int
    added: int
    removed: int
    relabeled_in: int
    relabeled_out: int


class ChangeOut(BaseModel):
    image_id: int
    before: str | None
    after: str | None


class TransitionOut(BaseModel):
    from_class: str = Field(alias="from")
    to: str
    images: int


class VersionDiffOut(BaseModel):
    before: int  # version numbers
    after: int
    added: int
    removed: int
    class_changed: int
    boxes_changed: int
    unchanged: int
    relabeled: int
    classes: list[ClassDeltaOut]
    transitions: list[TransitionOut]
    examples: dict[str, list[ChangeOut]]


class FreezeQueued(BaseModel):
    """A freeze queued as a job: poll `status_url` (the job's JSON) until its state is done; its
    result then names the version (`version_id`, `url`)."""

    state: str
    job_id: int
    status_url: str
    page_url: str


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormat
    include_images: bool = False
    wait: bool = False  # make it in this request even when a background job runner is available
    image_source: ImageSource = ImageSource.local_files  # Label Studio only (ExportOptions)
    image_root: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _options(self) -> ExportIn:
        try:
            self.image_root = self.options().image_root  # checked and normalised (a ValueError is a 422)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self

    def options(self) -> ExportOptions:
        return ExportOptions(image_source=self.image_source, image_root=self.image_root)


class ExportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version_id: int
    format: str
    include_images: bool
    options: dict[str, Any]
    sha256: str
    size_bytes: int
    created_at: datetime
    download_url: str = ""


class ExportStatus(BaseModel):
    state: str  # none, running, done, failed
    done: int = 0
    total: int = 0
    message: str = ""
    export: ExportOut | None = None


class AnswersIn(BaseModel):
    """The answers export (app/datasets/answers.py): every labeler's answers, of the project or of one
    version's images, with the labelers' e-mails or pseudonyms."""

    model_config = ConfigDict(extra="forbid")

    version_id: int | None = None
    pseudonyms: bool = False
    image_source: ImageSource = ImageSource.local_files  # how tasks.json names the images (ExportOptions)
    image_root: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _options(self) -> AnswersIn:
        try:
            self.image_root = self.options().image_root
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self

    def options(self) -> ExportOptions:
        return ExportOptions(image_source=self.image_source, image_root=self.image_root)
