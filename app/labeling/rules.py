"""The project's labeling rules: how long an image must be on screen before its answer is taken,
what median answer time counts as implausibly fast, and each class's box rule. Pure: no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.errors import Invalid
from app.projects.models import BoxRule, LabelClass, Project, TaskType

DEFAULT_MIN_VIEW_MS = 700
DEFAULT_FAST_MEDIAN_MS = 1000
MAX_RULE_MS = 60_000
MAX_DURATION_MS = 24 * 3600 * 1000  # what Annotation.duration_ms takes (an assignment left open for days)


@dataclass(frozen=True)
class Timing:
    min_view_ms: int  # 0: no minimum
    fast_median_ms: int  # a labeler whose median answer time is below this is flagged; 0: never


def _ms(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return min(MAX_RULE_MS, max(0, value))


def timing(project: Project) -> Timing:
    settings = project.settings or {}
    return Timing(
        min_view_ms=_ms(settings, "min_view_ms", DEFAULT_MIN_VIEW_MS),
        fast_median_ms=_ms(settings, "fast_median_ms", DEFAULT_FAST_MEDIAN_MS),
    )


def elapsed_ms(shown_at: datetime, now: datetime) -> int:
    return min(MAX_DURATION_MS, max(0, int((now - shown_at).total_seconds() * 1000)))


def check_viewed(*, shown_at: datetime | None, now: datetime, min_view_ms: int) -> None:
    """Raises Invalid when the image has not been on screen for `min_view_ms` yet."""
    if shown_at is None or min_view_ms <= 0:
        return
    seen = elapsed_ms(shown_at, now)
    if seen < min_view_ms:
        raise Invalid(
            f"the image was on screen for {seen} ms; look at it for at least {min_view_ms} ms before answering",
            field="shown_at",
            detail={"min_view_ms": min_view_ms, "seen_ms": seen, "wait_ms": min_view_ms - seen},
        )


def is_too_fast(median_duration_ms: float | None, fast_median_ms: int) -> bool:
    return median_duration_ms is not None and fast_median_ms > 0 and median_duration_ms < fast_median_ms


def check_boxes(
    classes: Mapping[int, LabelClass],
    *,
    task_type: str,
    label_class_id: int | None,
    boxes: Sequence[Mapping[str, Any]],
) -> None:
    """Raises Invalid naming the class when the answer breaks a class's box rule."""
    if task_type == TaskType.classification:
        return  # no boxes are drawn at all
    chosen = classes.get(label_class_id) if label_class_id is not None else None
    if chosen is not None and chosen.box_rule == BoxRule.none and boxes:
        raise Invalid(f"the class {chosen.name!r} takes no boxes; delete them or pick another class", field="boxes")
    for i, box in enumerate(boxes):
        box_class = classes.get(box.get("class_id"))  # type: ignore[arg-type]
        if box_class is not None and box_class.box_rule == BoxRule.none:
            raise Invalid(f"the class {box_class.name!r} is never drawn as a box", field=f"boxes[{i}].class_id")
    if chosen is not None and chosen.box_rule == BoxRule.required and not any(
        box.get("class_id") == chosen.id for box in boxes
    ):
        raise Invalid(f"the class {chosen.name!r} needs at least one {chosen.name!r} box; draw it", field="boxes")
