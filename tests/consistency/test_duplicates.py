"""Near-duplicate signature and search (pure; the workload test measures it on real renders)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.consistency.duplicates import (
    SIGNATURE_BYTES,
    connected_groups,
    decode,
    distance,
    find_near_duplicates,
    signature,
)


def part(*, dx=0, dy=0, size=(300, 160), at=(170, 160), light=1.0, spots=((120, 60),), noise=2.0, seed=0):
    """A light rounded part with dark spots on a dark belt, moved by (dx, dy), relit by `light`."""
    rng = np.random.default_rng(seed)
    im = Image.new("L", (640, 480), 30)
    draw = ImageDraw.Draw(im)
    x0, y0 = at[0] + dx, at[1] + dy
    draw.rounded_rectangle([x0, y0, x0 + size[0], y0 + size[1]], radius=20, fill=200)
    for sx, sy in spots:
        draw.ellipse([x0 + sx - 4, y0 + sy - 4, x0 + sx + 4, y0 + sy + 4], fill=90)
    a = np.asarray(im, dtype=float) * light + rng.normal(0, noise, (480, 640))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).convert("RGB")


def test_signature_is_stable_bytes_of_fixed_size():
    s = signature(part())
    assert isinstance(s, bytes) and len(s) == SIGNATURE_BYTES
    assert signature(part()) == s
    assert signature(part().convert("L")) == s
    assert distance(s, s) == 0.0


def test_reshoot_of_the_same_part_is_near_and_another_part_is_far():
    original = signature(part())
    reshoot = signature(part(dx=2, dy=-2, light=1.015, seed=1))  # moved 2 px, relit 1.5 %, new noise
    assert distance(original, reshoot) < 0.5
    assert distance(original, signature(part(size=(306, 166), seed=7))) > 0.85  # a part 2 % larger
    assert distance(original, signature(part(size=(320, 170), seed=4))) > 0.85


def test_signature_is_translation_invariant_and_blind_to_small_spots():
    """What the design gives up (see duplicates.py): centring forgives any shift, and an 8 px spot
    barely moves a 32 x 24 thumbnail, so parts that differ only by a small defect look alike."""
    original = signature(part())
    assert distance(original, signature(part(dx=30, dy=12, seed=2))) < 0.5
    assert distance(original, signature(part(spots=((40, 100), (250, 30)), seed=3))) < 0.5


def test_decode_refuses_foreign_bytes():
    with pytest.raises(ValueError):
        decode([b"\x00" * SIGNATURE_BYTES])
    with pytest.raises(ValueError):
        decode([b"\x01" * 10])


def test_search_finds_planted_groups_without_comparing_all_pairs():
    rng = np.random.default_rng(0)
    n, dim = 1200, 768
    base = np.clip(rng.normal(0, 1.0, (n, dim)).cumsum(axis=1) / 8, -3.9, 3.9)  # smooth-ish vectors
    planted = [list(range(k * 7, k * 7 + 4)) for k in range(25)]  # 25 groups of 4
    for g in planted:
        base[g[1:]] = base[g[0]] + rng.normal(0, 0.01, (3, dim))
    q = np.round(base * 31.75).astype(np.int8)
    result = find_near_duplicates(q, max_distance=0.85, exhaustive_below=0)
    assert result.groups == planted
    assert result.candidates < n * (n - 1) / 2 / 5
    assert np.all(result.distances <= 0.85)
    pairs = {tuple(p) for p in result.pairs.tolist()}
    assert pairs == {(a, b) for g in planted for i, a in enumerate(g) for b in g[i + 1:]}


def test_search_on_bytes_and_tiny_inputs():
    sigs = [signature(part(seed=s, dx=s % 2)) for s in range(3)] + [signature(part(size=(330, 180), seed=9))]
    result = find_near_duplicates(sigs)
    assert result.groups == [[0, 1, 2]]
    assert result.candidates == 6  # small sets are compared exhaustively
    assert find_near_duplicates(sigs[:1]).groups == []


def test_connected_groups():
    assert connected_groups(6, np.array([[0, 1], [1, 2], [4, 5]])) == [[0, 1, 2], [4, 5]]
    assert connected_groups(3, np.zeros((0, 2), dtype=int)) == []
