"""The split plan (pure): deterministic, stratified, stable, and never splitting a unit."""
from __future__ import annotations

from collections import Counter

import pytest

from app.datasets.splits import SplitItem, check_fractions, plan_splits

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def items(n: int, *, classes: int = 3, start: int = 0) -> list[SplitItem]:
    return [SplitItem(image_id=i, stratum=i % classes, unit=("i", i), split=None) for i in range(start, start + n)]


def test_same_input_same_plan_and_the_seed_changes_it() -> None:
    a = plan_splits(items(300), fractions=FRACTIONS, seed=1)
    b = plan_splits(list(reversed(items(300))), fractions=FRACTIONS, seed=1)
    c = plan_splits(items(300), fractions=FRACTIONS, seed=2)
    assert a.splits == b.splits
    assert a.splits != c.splits


def test_each_class_is_split_in_the_asked_proportions() -> None:
    plan = plan_splits(items(600, classes=3), fractions=FRACTIONS)
    per_class: dict[int, Counter[str]] = {k: Counter() for k in range(3)}
    for image_id, split in plan.splits.items():
        per_class[image_id % 3][split] += 1
    for counts in per_class.values():  # 200 per class: exactly 160/20/20 by largest remainder
        assert counts == Counter({"train": 160, "val": 20, "test": 20})
    assert plan.new == set(range(600))


def test_a_rare_class_still_reaches_val_and_test() -> None:
    rare = [SplitItem(image_id=1000 + i, stratum="rare", unit=("i", 1000 + i), split=None) for i in range(10)]
    plan = plan_splits(items(200) + rare, fractions=FRACTIONS)
    assert Counter(plan.splits[1000 + i] for i in range(10)) == Counter({"train": 8, "val": 1, "test": 1})


def test_existing_splits_are_kept_and_counted_towards_the_targets() -> None:
    old = [SplitItem(image_id=i, stratum=0, unit=("i", i), split="train") for i in range(10)]
    new = [SplitItem(image_id=100 + i, stratum=0, unit=("i", 100 + i), split=None) for i in range(10)]
    plan = plan_splits(old + new, fractions=FRACTIONS)
    assert all(plan.splits[i] == "train" for i in range(10))
    assert plan.new == {100 + i for i in range(10)}
    # 20 items of one class: 16/2/2 overall, so the newcomers fill val and test first.
    assert Counter(plan.splits.values()) == Counter({"train": 16, "val": 2, "test": 2})


def test_a_unit_never_straddles_and_new_members_join_their_group() -> None:
    group = [SplitItem(image_id=i, stratum=i % 2, unit=("g", 7), split=None) for i in range(12)]
    plan = plan_splits(items(100, start=100) + group, fractions=FRACTIONS)
    assert len({plan.splits[i] for i in range(12)}) == 1
    pinned = [SplitItem(image_id=500, stratum=0, unit=("g", 9), split="test"),
              SplitItem(image_id=501, stratum=1, unit=("g", 9), split=None)]
    assert plan_splits(pinned, fractions=FRACTIONS).splits == {500: "test", 501: "test"}


def test_a_group_linked_after_its_images_were_split_keeps_its_majority_and_leaves_the_rest_out() -> None:
    straddling = [SplitItem(image_id=1, stratum=0, unit=("g", 1), split="train"),
                  SplitItem(image_id=2, stratum=0, unit=("g", 1), split="train"),
                  SplitItem(image_id=3, stratum=0, unit=("g", 1), split="test"),
                  SplitItem(image_id=4, stratum=0, unit=("g", 1), split=None)]
    plan = plan_splits(straddling, fractions=FRACTIONS)
    assert plan.splits == {1: "train", 2: "train", 4: "train"}
    assert plan.excluded == {3}


def test_anchors_place_a_unit_none_of_whose_items_has_a_split() -> None:
    unit = [SplitItem(image_id=9, stratum=0, unit=("g", 3), split=None)]
    plan = plan_splits(unit, fractions=FRACTIONS, anchors={("g", 3): Counter({"val": 2})})
    assert plan.splits == {9: "val"}


@pytest.mark.parametrize("bad", [{"train": -1}, {"train": 0, "val": 0, "test": 0}, {"holdout": 1.0}])
def test_bad_fractions_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        check_fractions(bad)
