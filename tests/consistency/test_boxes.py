"""Box matching, clusters, findings and box agreement (pure)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from app.consistency.boxes import (
    BoxParams,
    as_boxes,
    box_agreement_score,
    box_alpha,
    cluster_image,
    cluster_value_counts,
    iou_matrix,
    match_pair,
)

STRICT = BoxParams(match_iou=0.5, localization_iou=0.5, tolerance_px=0.0)


def test_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]])
    assert iou_matrix(a, b)[0].tolist() == pytest.approx([50 / 150, 0.0, 1.0])
    assert iou_matrix(a, np.zeros((0, 4))).shape == (1, 0)


def test_tolerance_forgives_a_pixel_on_small_boxes_only():
    pit, pit_slipped = [[100, 100, 5, 5]], [[101, 101, 5, 5]]
    dent, dent_slipped = [[100, 100, 60, 60]], [[101, 101, 60, 60]]
    assert iou_matrix(pit, pit_slipped)[0, 0] == pytest.approx(16 / 34)  # 0.47: fails a 0.5 threshold
    assert iou_matrix(pit, pit_slipped, tolerance_px=2)[0, 0] == pytest.approx(64 / 98)  # 0.65
    plain = iou_matrix(dent, dent_slipped)[0, 0]
    assert iou_matrix(dent, dent_slipped, tolerance_px=2)[0, 0] == pytest.approx(plain, abs=0.005)


def test_match_pair_is_optimal_not_greedy():
    # Greedy on the best IoU pairs a0-b0 (0.82) and leaves a1 (0.33 with b0) and b1 (0.43 with a0)
    # alone; the matching pairs a0-b1 and a1-b0 instead.
    a = np.array([[0, 0, 10, 10], [-4, 0, 10, 10]])
    b = np.array([[1, 0, 10, 10], [4, 0, 10, 10]])
    rows, cols, iou = match_pair(a, b, min_iou=0.3)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]
    assert np.all(iou >= 0.3)
    assert match_pair(a, np.zeros((0, 4)), min_iou=0.3)[0].size == 0


def test_clusters_consensus_and_findings():
    # Labelers 1-3 box one scratch (class 1), labeler 3 calls it class 2; labeler 2 alone boxes a
    # second defect; labeler 4 annotated the image but drew nothing.
    xywh = np.array([[10, 10, 20, 20], [11, 9, 20, 22], [9, 11, 21, 19], [200, 200, 8, 8]])
    cls = np.array([1, 1, 2, 3])
    labeler = np.array([1, 2, 3, 2])
    result = cluster_image(xywh, cls, labeler, [1, 2, 3, 4], STRICT)
    assert len(result.clusters) == 2
    main, lone = result.clusters
    assert main.labelers.tolist() == [1, 2, 3] and main.missing.tolist() == [4]
    assert main.consensus.tolist() == pytest.approx([10, 10, 20, 20])  # median of the corners
    assert main.consensus_class == 1 and main.class_agreement == pytest.approx(2 / 3)
    assert main.support == pytest.approx(0.75)
    assert lone.labelers.tolist() == [2] and lone.missing.tolist() == [1, 3, 4]
    kinds = {(f.kind, f.cluster, f.labelers) for f in result.findings}
    assert ("box_class_mismatch", 0, (3,)) in kinds
    assert ("missing_box", 0, (4,)) in kinds and ("missing_box", 1, (1, 3, 4)) in kinds
    assert not any(f.kind == "box_localization" for f in result.findings)


def test_localization_finding_names_the_badly_placed_box():
    xywh = np.array([[10, 10, 40, 40], [11, 10, 40, 40], [18, 18, 40, 40]])
    result = cluster_image(xywh, [1, 1, 1], [1, 2, 3], [1, 2, 3], BoxParams(match_iou=0.3, localization_iou=0.7))
    (finding,) = [f for f in result.findings if f.kind == "box_localization"]
    assert finding.labelers == (3,) and finding.value < 0.7


def test_one_box_per_labeler_per_cluster_even_through_a_chain():
    # A1 ~ B1 ~ C1 ~ A2 overlap in a chain: A1 and A2 must not end up in one cluster.
    xywh = np.array([[0, 0, 10, 10], [4, 0, 10, 10], [8, 0, 10, 10], [12, 0, 10, 10]])
    labeler = np.array([1, 2, 3, 1])
    result = cluster_image(xywh, [1, 1, 1, 1], labeler, [1, 2, 3], BoxParams(match_iou=0.2, tolerance_px=0))
    for c in result.clusters:
        assert len(set(c.labelers.tolist())) == c.labelers.size
    assert sorted(c.members.size for c in result.clusters) == [1, 3]


def test_box_agreement_score_definition():
    same = np.array([[10, 10, 20, 20], [10, 10, 20, 20]])
    assert cluster_image(same, [1, 1], [1, 2], [1, 2], STRICT).score == pytest.approx(1.0)
    assert cluster_image(same, [1, 2], [1, 2], [1, 2], STRICT).score == pytest.approx(0.75)  # one at half credit
    assert cluster_image(same[:1], [1], [1], [1, 2], STRICT).score == pytest.approx(0.5)  # one missed it
    assert cluster_image(np.zeros((0, 4)), [], [], [1, 2], STRICT).score == 1.0  # both say: no defect
    assert np.isnan(box_agreement_score([], 1, STRICT))


def test_box_alpha_is_krippendorff_over_clusters_with_no_box_as_a_value():
    images = [
        cluster_image([[0, 0, 10, 10], [0, 0, 10, 10]], [0, 0], [1, 2], [1, 2, 3], STRICT),
        cluster_image([[0, 0, 10, 10], [50, 50, 10, 10]], [1, 1], [1, 2], [1, 2], STRICT),
        cluster_image([[0, 0, 10, 10], [1, 0, 10, 10], [0, 1, 10, 10]], [0, 1, 0], [1, 2, 3], [1, 2, 3], STRICT),
    ]
    counts = np.vstack([cluster_value_counts(image, 2) for image in images])
    assert counts.tolist() == [[2, 0, 1], [0, 1, 1], [0, 1, 1], [2, 1, 0]]
    expected = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert box_alpha(images, 2) == pytest.approx(expected, abs=1e-12)


def test_as_boxes_reads_the_stored_format():
    xywh, cls = as_boxes([{"x": 1.5, "y": 2, "w": 3, "h": 4, "class_id": 7}])
    assert xywh.tolist() == [[1.5, 2, 3, 4]] and cls.tolist() == [7]
    assert as_boxes([])[0].shape == (0, 4)


def test_a_box_needs_a_strict_majority_of_the_images_labelers() -> None:
    from app.consistency.boxes import is_supported

    assert [is_supported(m, 3) for m in (1, 2, 3)] == [False, True, True]
    assert [is_supported(m, 2) for m in (1, 2)] == [False, True]
    assert [is_supported(m, 4) for m in (2, 3)] == [False, True]
    assert is_supported(1, 1)  # a single labeler's own boxes, when alone


def test_a_boxs_class_is_its_members_majority_and_a_tie_goes_to_the_decided_class() -> None:
    from app.consistency.boxes import settled_class

    assert settled_class([3, 3, 4]) == 3
    assert settled_class([3, 4]) is None and settled_class([3, 4], decided=4) == 4
    assert settled_class([3, 4], decided=5) is None  # the decision breaks no tie it is not part of
    assert settled_class([3, 3, 4, 5]) is None and settled_class([3, 3, 4, 5], decided=3) == 3  # no majority
    assert settled_class([]) is None
