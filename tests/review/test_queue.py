"""The queue read model: order, every filter, facet counts, neighbours, and the allowlist."""
from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.review.queue import Query, QueueFilters, queue_page
from tests.factories import make_conflict, make_duplicate_group
from tests.review.scene import Scene, make_scene


def ids(s: Scene, **params: str) -> list[int]:
    page = queue_page(s.db, project_id=s.project.id, filters=QueueFilters.parse(params), base_href="/q")
    return [row.conflict.id for row in page.rows]


def facet(s: Scene, name: str, **params: str) -> dict[str, int]:
    page = queue_page(s.db, project_id=s.project.id, filters=QueueFilters.parse(params), base_href="/q")
    found = {f.name: f for f in page.facets}
    return {v.label: v.count for v in found[name].values} if name in found else {}


@pytest.fixture
def s(db: Session) -> Scene:
    scene = make_scene(db)
    scene.disputed(["dent", "pit", "dent"], consensus="dent", severity=0.9, meta={"line": "L1", "shift": "day"})
    scene.disputed(["ok", "scratch"], consensus="ok", severity=0.4, meta={"line": "L2", "shift": "night"})
    scene.disputed(["dent", "pit"], consensus="pit", severity=0.7, kind="missing_box", meta={"line": "L1"})
    resolved = scene.disputed(["ok", "pit"], consensus="ok", severity=0.95)[1]
    resolved.state = "resolved"
    db.flush()
    return scene


def test_open_conflicts_come_worst_first(s: Scene) -> None:
    conflicts = ids(s)
    severities = [0.9, 0.7, 0.4]
    assert len(conflicts) == 3
    page = queue_page(s.db, project_id=s.project.id, filters=QueueFilters(), base_href="/q")
    assert [r.conflict.severity for r in page.rows] == severities
    assert page.total == 3 and [r.rank for r in page.rows] == [1, 2, 3]


def test_each_filter_narrows_the_queue(s: Scene) -> None:
    dent, pit, ok, scratch = (s.cls(n).id for n in ("dent", "pit", "ok", "scratch"))
    assert len(ids(s, kind="missing_box")) == 1
    assert len(ids(s, pair=f"{pit}-{dent}")) == 2
    assert len(ids(s, pair=f"{ok}-{scratch}")) == 1
    assert len(ids(s, labeler=str(s.labelers[2].id))) == 1
    assert len(ids(s, line="L1")) == 2
    assert len(ids(s, line="L1", shift="day")) == 1
    assert len(ids(s, state="resolved")) == 1
    assert len(ids(s, state="all")) == 4
    assert ids(s, line="L3") == []


def test_facet_counts_apply_every_other_filter(s: Scene) -> None:
    assert facet(s, "kind") == {"class disagreement": 2, "missing box": 1}
    assert facet(s, "kind", line="L2") == {"class disagreement": 1}
    assert facet(s, "pair") == {"dent / pit": 2, "ok / scratch": 1}
    assert facet(s, "line") == {"L1": 2, "L2": 1}
    assert facet(s, "line", line="L1") == {"L1": 2, "L2": 1}  # its own filter does not shrink it
    assert facet(s, "state")["open"] == 3 and facet(s, "state")["resolved"] == 1
    assert facet(s, "labeler") == {"Labeler 1": 3, "Labeler 2": 3, "Labeler 3": 1}


def test_group_conflicts_are_found_through_their_images(s: Scene) -> None:
    a, b = s.images[0], s.images[1]
    group = make_duplicate_group(s.db, [a, b])
    conflict = make_conflict(s.db, None, kind="duplicate_group", group_id=group.id, severity=0.99)
    assert ids(s)[0] == conflict.id
    assert conflict.id in ids(s, line="L2") and conflict.id in ids(s, line="L1")
    page = queue_page(s.db, project_id=s.project.id, filters=QueueFilters(), base_href="/q")
    assert page.rows[0].images == 2 and page.rows[0].image is None


def test_neighbours_follow_the_filtered_order(s: Scene) -> None:
    first, second, third = ids(s)
    q = Query(s.db, s.project.id, QueueFilters())
    from app.consistency.models import Conflict

    middle = s.db.get(Conflict, second)
    assert q.neighbour(middle, forward=True) == third
    assert q.neighbour(middle, forward=False) == first
    assert Query(s.db, s.project.id, QueueFilters.parse({"line": "L1"})).neighbour(
        s.db.get(Conflict, first), forward=True) == second


@pytest.mark.parametrize("params", [{"state": "password_hash"}, {"kind": "users"}, {"pair": "1"},
                                    {"pair": "a-b"}, {"labeler": "x"}, {"pair": "3-3"}])
def test_filters_outside_the_allowlist_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(Invalid):
        QueueFilters.parse(params)


def test_filters_round_trip_through_the_query_string() -> None:
    filters = QueueFilters.parse({"state": "all", "kind": "gold_miss", "pair": "4-2", "labeler": "7", "line": "L3"})
    assert filters.pair == (2, 4) and filters.state is None
    from urllib.parse import parse_qsl

    assert QueueFilters.parse(dict(parse_qsl(filters.query()))) == filters
