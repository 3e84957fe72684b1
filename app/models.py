"""Every model, imported once so that Base.metadata is complete (Alembic, tests)."""
from app.analysis.models import DriftReport, ImageStats, ModelPrediction
from app.auth.models import ApiToken, LoginAttempt, Membership, Role, User, UserSession
from app.consistency.models import (
    AgreementSnapshot,
    Conflict,
    DuplicateGroup,
    ImageConsensus,
    LabelerQuality,
)
from app.core.audit import AuditEvent
from app.core.db import Base
from app.datasets.models import DatasetExport, DatasetItem, DatasetVersion
from app.images.models import Image, UploadBatch
from app.jobs.models import Job
from app.labeling.models import Annotation, Assignment
from app.modeling.models import CaptureRequest, FeatureVector, ModelRun, RunPrediction
from app.projects.models import ClassExample, DefectBookVersion, LabelClass, Project
from app.review.models import FinalLabel, Resolution

__all__ = [
    "AgreementSnapshot",
    "Annotation",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "CaptureRequest",
    "ClassExample",
    "Conflict",
    "DatasetExport",
    "DatasetItem",
    "DatasetVersion",
    "DefectBookVersion",
    "DriftReport",
    "DuplicateGroup",
    "FeatureVector",
    "FinalLabel",
    "Image",
    "ImageConsensus",
    "ImageStats",
    "Job",
    "LabelClass",
    "LabelerQuality",
    "LoginAttempt",
    "Membership",
    "ModelPrediction",
    "ModelRun",
    "Project",
    "Resolution",
    "Role",
    "RunPrediction",
    "UploadBatch",
    "User",
    "UserSession",
]
