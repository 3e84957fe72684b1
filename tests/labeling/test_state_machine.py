"""The labeling loop as a Hypothesis state machine (reliability #37, the labeling part): images arrive,
labelers claim, answer, skip, relabel, abandon; policies change. After every step: at most one live
answer per image and labeler, nothing a person answered is lost, slot counts match the assignments,
and no image is handed out beyond what it wants."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.core.db import utcnow
from app.core.errors import Conflict
from app.images.models import Image
from app.labeling import service
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.labeling.schemas import OverlapIn
from tests.factories import class_named, make_image, make_member, make_project
from tests.labeling.helpers import answer, claim

S = AssignmentState


class LabelingLoop(RuleBasedStateMachine):
    db: Session

    @initialize()
    def setup(self) -> None:
        self.savepoint = self.db.begin_nested()
        self.project = make_project(self.db, labels_per_image=2)
        self.labelers = [make_member(self.db, self.project, Role.inspector, password=None) for _ in range(3)]
        self.admin = make_member(self.db, self.project, Role.admin, password=None)
        self.classes = [class_named(self.db, self.project, n).id for n in ("ok", "dent", "pit")]
        self.given: list[int] = []  # ids of every annotation acknowledged to a labeler

    def teardown(self) -> None:
        self.savepoint.rollback()

    @rule(priority=st.integers(0, 2))
    def upload(self, priority: int) -> None:
        make_image(self.db, self.project, labels_wanted=self.project.labels_per_image, priority=priority)

    @rule(who=st.integers(0, 2), label=st.integers(0, 2), unsure=st.booleans())
    def claim_and_answer(self, who: int, label: int, unsure: bool) -> None:
        user = self.labelers[who]
        assignment = claim(self.db, self.project, user)
        if assignment is None:
            return
        previous = service.live_annotation(self.db, image_id=assignment.image_id, labeler_id=user.id)
        done = answer(self.db, self.project, user, assignment, self.classes[label], unsure=unsure,
                      supersedes_id=previous.id if previous else None)
        self.given.append(done.id)

    @rule(who=st.integers(0, 2))
    def claim_and_skip(self, who: int) -> None:
        assignment = claim(self.db, self.project, self.labelers[who])
        if assignment is not None:
            service.skip(self.db, project=self.project, labeler=self.labelers[who], assignment_id=assignment.id)

    @rule(who=st.integers(0, 2))
    def claim_and_abandon(self, who: int) -> None:
        assignment = claim(self.db, self.project, self.labelers[who])
        if assignment is not None:
            self.db.execute(update(Assignment).where(Assignment.id == assignment.id)
                            .values(expires_at=utcnow() - timedelta(seconds=1)))

    @rule(who=st.integers(0, 2), label=st.integers(0, 2))
    def stale_second_tab(self, who: int, label: int) -> None:
        """A submit that does not name the live answer it replaces is refused, never overwrites."""
        user = self.labelers[who]
        done = self.db.scalar(select(Assignment).where(Assignment.labeler_id == user.id,
                                                      Assignment.state == S.done).limit(1))
        if done is None:
            return
        with pytest.raises(Conflict):
            answer(self.db, self.project, user, done, self.classes[label], supersedes_id=None)

    @rule(labels=st.integers(1, 3), qa=st.sampled_from([0.0, 0.5]), adaptive=st.booleans())
    def change_policy(self, labels: int, qa: float, adaptive: bool) -> None:
        service.update_overlap(self.db, project=self.project, actor=self.admin, data=OverlapIn(
            labels_per_image=labels, qa_fraction=qa, qa_labels_per_image=3, adaptive_overlap=adaptive))

    @invariant()
    def one_live_answer_each_and_nothing_lost(self) -> None:
        if not hasattr(self, "project"):
            return
        live = self.db.execute(select(Annotation.image_id, Annotation.labeler_id)
                               .where(Annotation.superseded_by_id.is_(None))).all()
        assert len(live) == len(set(live))
        stored = set(self.db.scalars(select(Annotation.id)))
        assert set(self.given) <= stored

    @invariant()
    def slots_match_assignments(self) -> None:
        if not hasattr(self, "project"):
            return
        held = Counter(self.db.scalars(select(Assignment.image_id).where(
            Assignment.project_id == self.project.id, Assignment.state.in_([S.open, S.done]))))
        for image in self.db.scalars(select(Image).where(Image.project_id == self.project.id)):
            self.db.refresh(image)
            assert image.slots_taken == held[image.id]


@pytest.mark.slow
def test_the_labeling_loop_keeps_its_invariants(db: Session) -> None:
    LabelingLoop.db = db
    runner = LabelingLoop.TestCase
    runner.settings = settings(max_examples=12, stateful_step_count=20, deadline=None,
                               suppress_health_check=list(HealthCheck))
    runner().runTest()
