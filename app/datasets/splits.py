"""Train/val/test assignment: deterministic, stratified by class, stable, and leak-free.

Pure: plain data in, plain data out (no database, no web).

The unit of assignment is a *unit*: a near-duplicate group, or an image with its augmented copies.
Every member of a unit lands in one split, so look-alikes never leak between train and test.

Contract:
- An item that already has a split (`Image.split`, fixed at its first freeze) keeps it.
- A unit whose members already sit in one split puts its new members there too.
- A unit whose members already sit in several splits (duplicates linked after their images were
  frozen) keeps the split holding most of them; members elsewhere are *excluded* from the version
  (their split is never changed), so the version itself has no straddling group.
- New units are visited per stratum (class) in SHA-256 order of `seed:unit key` and each goes to
  the split furthest below its target share of that stratum (largest remainder, ties in
  SPLITS order). The counts include the stratum's items that kept an old split, so the whole
  version, not just the newcomers, tends towards the requested fractions.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


@dataclass(frozen=True, slots=True)  # one per frozen item: keep it small
class SplitItem:
    image_id: int
    stratum: Hashable  # usually the image's class id; None for images without a class
    unit: Hashable  # ("g", group id), ("i", image id) ... members of one unit share a split
    split: str | None  # the split it already has, if any


@dataclass
class SplitPlan:
    splits: dict[int, str] = field(default_factory=dict)  # image id -> split, for every kept item
    new: set[int] = field(default_factory=set)  # image ids whose split this plan sets for the first time
    excluded: set[int] = field(default_factory=set)  # members left out so that no unit straddles


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Normalised fractions over SPLITS; ValueError if unknown keys, negatives or all zero."""
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}")
    values = {s: float(fractions.get(s, 0.0)) for s in SPLITS}
    if any(v < 0 or v != v for v in values.values()) or sum(values.values()) <= 0:
        raise ValueError("split fractions must be non-negative and not all zero")
    total = sum(values.values())
    return {s: v / total for s, v in values.items()}


def _order_key(seed: int, unit: Hashable) -> str:
    return hashlib.sha256(f"{seed}:{unit!r}".encode()).hexdigest()


def plan_splits(items: Iterable[SplitItem], *, fractions: Mapping[str, float], seed: int = 0,
                anchors: Mapping[Hashable, Counter[str]] | None = None) -> SplitPlan:
    """Assign a split to every item (see the module docstring for the rules).

    `anchors` gives, per unit, the splits of members that are *not* among `items` (images of the
    project frozen in an earlier version but left out of this one). They place a unit none of whose
    items has a split yet, so an image joins the split its look-alikes already went to.
    """
    shares = check_fractions(fractions)
    units: dict[Hashable, list[SplitItem]] = defaultdict(list)
    for item in items:
        units[item.unit].append(item)
    plan = SplitPlan()
    counts: dict[Hashable, Counter[str]] = defaultdict(Counter)  # stratum -> split -> items
    fresh: dict[Hashable, list[tuple[str, Hashable]]] = defaultdict(list)  # stratum -> (order, unit)
    for key, members in units.items():
        pinned = Counter(m.split for m in members if m.split) or (anchors or {}).get(key, Counter())
        if pinned:
            _place(plan, counts, members, _winner(pinned))
        else:
            fresh[_stratum(members)].append((_order_key(seed, key), key))
    for stratum in sorted(fresh, key=repr):
        for _, key in sorted(fresh[stratum]):
            members = units[key]
            _place(plan, counts, members, _emptiest(counts[stratum], shares, len(members)))
    return plan


def _winner(pinned: Counter[str]) -> str:
    return max(SPLITS, key=lambda s: (pinned.get(s, 0), -SPLITS.index(s)))


def _stratum(members: list[SplitItem]) -> Hashable:
    votes = Counter(m.stratum for m in members)
    return min(votes, key=lambda s: (-votes[s], repr(s)))


def _emptiest(current: Counter[str], shares: Mapping[str, float], size: int) -> str:
    total = sum(current.values()) + size
    return max(SPLITS, key=lambda s: (shares[s] * total - current[s], -SPLITS.index(s)))


def _place(plan: SplitPlan, counts: dict[Hashable, Counter[str]], members: list[SplitItem], split: str) -> None:
    for member in members:
        if member.split and member.split != split:
            plan.excluded.add(member.image_id)
            continue
        plan.splits[member.image_id] = split
        if not member.split:
            plan.new.add(member.image_id)
        counts[member.stratum][split] += 1
