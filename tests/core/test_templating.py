"""Every time a page shows names its zone, whatever form it arrives in."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest

from app.core.templating import templates, when


@pytest.mark.parametrize(("value", "precision", "shown", "machine"), [
    (datetime(2026, 12, 6, 5, 14, 34, 999_999), "minute", "2026-12-06 05:14 UTC", "2026-12-06T05:14:34Z"),
    (datetime(2026, 12, 6, 5, 14, 34, tzinfo=UTC), "second", "2026-12-06 05:14:34 UTC", "2026-12-06T05:14:34Z"),
    (datetime(2026, 12, 6, 1, 0, tzinfo=timezone(timedelta(hours=2))), "day", "2026-12-05 UTC",
     "2026-12-05T23:00:00Z"),
    ("2026-12-06T05:14:34.250000+00:00", "second", "2026-12-06 05:14:34 UTC", "2026-12-06T05:14:34Z"),
    ("2026-12-06T05:14:34", "minute", "2026-12-06 05:14 UTC", "2026-12-06T05:14:34Z"),
])
def test_a_moment_is_shown_in_utc_and_says_so(value: datetime | str, precision: Literal["day", "minute", "second"],
                                              shown: str, machine: str) -> None:
    assert str(when(value, precision)) == f'<time datetime="{machine}">{shown}</time>'


def test_no_moment_is_a_dash() -> None:
    assert str(when(None)) == "–"


def test_the_filter_is_what_templates_use() -> None:
    page = templates.env.from_string("Frozen {{ at | when }}; {{ at | when('day') }}")
    assert page.render(at=datetime(2026, 1, 2, 3, 4)) == (
        'Frozen <time datetime="2026-01-02T03:04:00Z">2026-01-02 03:04 UTC</time>; '
        '<time datetime="2026-01-02T03:04:00Z">2026-01-02 UTC</time>')
