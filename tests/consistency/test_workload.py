"""The maths on the inspection workload (400 images, 6 annotators incl. a spammer, seed 0), read
straight from tasks.labelstudio.json into arrays. The generator's README says what the data holds:
a labeler who confuses dent and pit, a lazy one who answers ok and skips boxes, a sloppy boxer, a
spammer, near-duplicate groups and gold images."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from app.consistency.boxes import BoxParams, box_alpha, cluster_image
from app.consistency.dawid_skene import dawid_skene
from app.consistency.duplicates import find_near_duplicates, signature
from app.consistency.gold import gold_accuracy
from app.consistency.metrics import class_pair_disagreement, krippendorff_alpha, majority, vote_counts


def test_dent_pit_is_the_most_confused_class_pair(inspection):
    pairs = class_pair_disagreement(vote_counts(inspection.triples))
    names = [(inspection.classes[a], inspection.classes[b]) for a, b, _ in pairs.top_pairs(10)]
    assert names[0] == ("dent", "pit")  # by rate, over all pairs
    by_share = [(inspection.classes[a], inspection.classes[b]) for a, b, _ in pairs.top_pairs(10, by="share")]
    defect_pairs = [p for p in by_share if "ok" not in p]
    assert defect_pairs[0] == ("dent", "pit")  # by raw share ok/scratch leads; among defects dent/pit


def test_dawid_skene_ranks_spammer_and_lazy_lowest_and_beats_majority(inspection):
    t = inspection.triples
    result = dawid_skene(t)
    ranked = [inspection.profiles[lab] for lab in np.argsort(result.accuracy)]
    assert ranked[:2] == ["spammer", "lazy-ok"]
    assert ranked[-1] == "careful"
    for lab in range(t.n_labelers):  # each estimate is close to the true accuracy
        mine = t.labeler == lab
        assert result.accuracy[lab] == pytest.approx(np.mean(t.label[mine] == inspection.truth[t.item[mine]]),
                                                     abs=0.03)
    dent, pit = inspection.classes.index("dent"), inspection.classes.index("pit")
    confuser = inspection.labeler("confuses-dent-pit")
    assert result.confusion[confuser, pit, dent] > 0.5  # the generator's 70 % pit -> dent
    assert result.confusion[inspection.labeler("careful"), pit, dent] < 0.2
    vote = majority(vote_counts(t)).label
    assert np.mean(result.consensus == inspection.truth) > np.mean(vote == inspection.truth) + 0.02


def test_gold_accuracy_puts_the_spammer_last(inspection):
    g = gold_accuracy(inspection.triples, list(inspection.gold), list(inspection.gold.values()))
    assert g.n_gold.sum() == 3 * len(inspection.gold)
    assert inspection.profiles[int(np.nanargmin(g.accuracy))] == "spammer"


def image_boxes(inspection, params):
    b, t = inspection.boxes, inspection.triples
    for image in range(t.n_items):
        mine = b.image == image
        yield cluster_image(b.xywh[mine], b.cls[mine], b.labeler[mine], t.labeler[t.item == image], params)


def test_box_conflicts_point_at_the_right_labelers(inspection):
    images = list(image_boxes(inspection, BoxParams()))
    missed: Counter = Counter()
    placement: dict[str, list[float]] = {}
    for image in images:
        for f in image.findings:
            if f.kind == "missing_box" and image.clusters[f.cluster].support >= 0.6:  # most drew it
                missed.update(inspection.profiles[lab] for lab in f.labelers)
        for cluster in image.clusters:
            if cluster.members.size >= 2:
                for lab, iou in zip(cluster.labelers, cluster.iou_tolerant, strict=True):
                    placement.setdefault(inspection.profiles[lab], []).append(iou)
    (first, _), (second, _), (_, n_third) = missed.most_common(3)
    assert {first, second} == {"spammer", "lazy-ok"}  # the spammer misses nearly everything too
    assert missed["lazy-ok"] > 5 * n_third
    median_iou = {profile: np.median(v) for profile, v in placement.items() if profile != "spammer"}
    assert min(median_iou, key=median_iou.get) == "sloppy-boxes"  # boxes furthest from the consensus
    alpha = box_alpha(images, len(inspection.classes))
    assert 0.0 < alpha < krippendorff_alpha(vote_counts(inspection.triples))  # boxes agree less than classes


def test_small_boxes_match_better_with_the_pixel_tolerance(inspection):
    def clusters(params):
        return sum(len(image.clusters) for image in image_boxes(inspection, params))

    strict = clusters(BoxParams(match_iou=0.5, tolerance_px=0.0))
    tolerant = clusters(BoxParams())
    assert tolerant < strict * 0.95  # fewer split clusters: jittered pits are recognised as one defect


@pytest.mark.slow  # reads and signs 400 JPEGs
def test_near_duplicate_groups_are_found_with_few_false_pairs(inspection):
    signatures = []
    for name in inspection.files:
        with Image.open(inspection.root / "images" / name) as im:
            signatures.append(signature(im))
    truth = {tuple(sorted(g)) for g in inspection.near_duplicates}
    true_pairs = {(a, b) for g in truth for i, a in enumerate(g) for b in g[i + 1:]}
    for exhaustive_below in (10_000, 0):  # every pair, then the hashed search
        found = find_near_duplicates(signatures, exhaustive_below=exhaustive_below)
        pairs = {tuple(p) for p in found.pairs.tolist()}
        grouped = {tuple(g) for g in found.groups}
        assert truth <= grouped  # every group recovered exactly
        assert len(grouped - truth) <= 1
        assert len(pairs & true_pairs) >= 0.9 * len(true_pairs)
        assert len(pairs - true_pairs) <= 2
