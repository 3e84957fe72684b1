"""Export formats. Each module gives `PASSES` (item sweeps, for progress), `write(ctx, archive)`
(the label files) and `image_name(ctx, item)` (where an included image goes, or None)."""
from __future__ import annotations

from types import ModuleType

from app.datasets.formats import coco, csv, imagefolder, labelstudio, voc, yolo
from app.datasets.schemas import ExportFormat

FORMATS: dict[ExportFormat, ModuleType] = {
    ExportFormat.coco: coco,
    ExportFormat.yolo: yolo,
    ExportFormat.voc: voc,
    ExportFormat.csv: csv,
    ExportFormat.labelstudio: labelstudio,
    ExportFormat.imagefolder: imagefolder,
}
