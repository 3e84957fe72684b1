"""Label → conflict → decide → send back, in any order (reliability #37, the review half).

A Hypothesis state machine drives the real services: labels go through the consistency service's
`on_new_annotation`, decisions through `review.service.decide`. After every step:
- every image has at most one final label, and a reviewer's final label is the last decision on it;
- a decided conflict is back in the queue only if a label newer than the decision disagrees with it,
  and one that such a label disagrees with is back in the queue (decisions stick, and stop sticking
  only for a reason);
- counts are conserved: annotations = labels given (superseded ones kept), resolutions = conflicts
  settled by the decisions made, returned assignments = labelers sent back and not answered since.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.consistency.models import Conflict, ConflictState
from app.consistency.service import on_new_annotation
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.review import service
from app.review.models import FinalLabel, FinalLabelSource, Resolution
from app.review.schemas import DecisionIn
from tests.factories import make_image
from tests.review.scene import make_scene

pytestmark = pytest.mark.slow
CLASSES = ("ok", "dent", "pit")


def test_review_invariants_hold_in_any_order(db: Session) -> None:
    class ReviewMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.s = make_scene(db)
            self.images = [make_image(db, self.s.project, labels_wanted=3) for _ in range(3)]
            self.labels_given = 0
            self.settled = 0
            self.decided: dict[int, tuple[int, int]] = {}  # image -> (class, resolution id) of the last decision
            self.pending: set[tuple[int, int]] = set()  # (image, labeler) sent back, not answered yet

        @rule(image=st.integers(0, 2), labeler=st.integers(0, 2), name=st.sampled_from(CLASSES))
        def label(self, image: int, labeler: int, name: str) -> None:
            picture, who = self.images[image], self.s.labelers[labeler]
            live = db.scalar(select(Annotation).where(Annotation.image_id == picture.id,
                                                      Annotation.labeler_id == who.id,
                                                      Annotation.superseded_by_id.is_(None)))
            if live is not None:  # a relabel supersedes, never overwrites (as the labeling service does)
                live.superseded_by_id = live.id
                db.flush()
            new = Annotation(image_id=picture.id, labeler_id=who.id, label_class_id=self.s.cls(name).id, boxes=[])
            db.add(new)
            db.flush()
            if live is not None:
                live.superseded_by_id = new.id
            for assignment in db.scalars(select(Assignment).where(Assignment.image_id == picture.id,
                                                                  Assignment.labeler_id == who.id,
                                                                  Assignment.state == AssignmentState.returned)):
                assignment.state = AssignmentState.done
            self.pending.discard((picture.id, who.id))
            self.labels_given += 1
            on_new_annotation(db, new)

        def _active(self) -> list[Conflict]:
            return list(db.scalars(select(Conflict).where(Conflict.project_id == self.s.project.id,
                                                          Conflict.image_id.is_not(None),
                                                          Conflict.state == ConflictState.open).order_by(Conflict.id)))

        @rule(pick=st.integers(0, 20), name=st.sampled_from(CLASSES))
        def decide(self, pick: int, name: str) -> None:
            open_ones = self._active()
            if not open_ones:
                return
            conflict = open_ones[pick % len(open_ones)]
            result = service.decide(db, project=self.s.project, conflict_id=conflict.id, reviewer=self.s.reviewer,
                                    data=DecisionIn(decision="edit", version=conflict.version,
                                                    label_class_id=self.s.cls(name).id, boxes=[], reason="rule"))
            db.flush()
            self.settled += len(result.resolutions)
            self.decided[conflict.image_id] = (self.s.cls(name).id, result.resolution.id)  # type: ignore[index]

        @rule(pick=st.integers(0, 20), labeler=st.integers(0, 2))
        def send_back(self, pick: int, labeler: int) -> None:
            open_ones = self._active()
            if not open_ones:
                return
            conflict = open_ones[pick % len(open_ones)]
            who = self.s.labelers[labeler]
            result = service.decide(db, project=self.s.project, conflict_id=conflict.id, reviewer=self.s.reviewer,
                                    data=DecisionIn(decision="send_back", version=conflict.version,
                                                    labeler_ids=[who.id], reason="look again"))
            db.flush()
            self.settled += len(result.resolutions)
            self.pending.add((conflict.image_id, who.id))  # type: ignore[arg-type]

        @invariant()
        def one_final_label_and_decisions_stand(self) -> None:
            ids = [i.id for i in self.images]
            finals = db.execute(select(FinalLabel.image_id, func.count()).where(FinalLabel.image_id.in_(ids))
                                .group_by(FinalLabel.image_id)).all()
            assert all(n == 1 for _, n in finals)
            for image_id, (class_id, resolution_id) in self.decided.items():
                final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image_id))
                assert final is not None and final.source == FinalLabelSource.review
                assert (final.label_class_id, final.resolution_id) == (class_id, resolution_id)

        @invariant()
        def decided_conflicts_reopen_only_for_a_disagreeing_label(self) -> None:
            for image_id, (class_id, resolution_id) in self.decided.items():
                decided_at: datetime = db.get_one(Resolution, resolution_id).created_at
                newer = db.scalars(select(Annotation.label_class_id).where(
                    Annotation.image_id == image_id, Annotation.superseded_by_id.is_(None),
                    Annotation.created_at > decided_at)).all()
                disagreeing = any(c != class_id for c in newer)
                states = set(db.scalars(select(Conflict.state).where(Conflict.image_id == image_id,
                                                                     Conflict.kind == "class_disagreement")))
                if not disagreeing:
                    assert ConflictState.open not in states, (image_id, states, newer)

        @invariant()
        def counts_are_conserved(self) -> None:
            ids = [i.id for i in self.images]
            assert db.scalar(select(func.count()).select_from(Annotation)
                             .where(Annotation.image_id.in_(ids))) == self.labels_given
            assert db.scalar(select(func.count()).select_from(Resolution).join(Conflict)
                             .where(Conflict.project_id == self.s.project.id)) == self.settled
            returned = set(db.execute(select(Assignment.image_id, Assignment.labeler_id).where(
                Assignment.image_id.in_(ids), Assignment.state == AssignmentState.returned)).all())
            assert returned == self.pending

    run_state_machine_as_test(ReviewMachine, settings=settings(
        max_examples=20, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))

