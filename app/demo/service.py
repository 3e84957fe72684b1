"""`concord demo`: a ready-to-explore project with inspectors' labels, conflicts and a defect book."""
from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import service as analysis
from app.auth import service as auth_service
from app.auth.models import Role, User
from app.consistency import service as consistency
from app.core.config import Settings
from app.core.security import hash_password
from app.core.storage import Storage
from app.demo.source import DEFINITIONS, DemoSource, write_demo_source
from app.images import imports
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.models import Image
from app.projects import defect_book
from app.projects import service as project_service
from app.projects.models import Project, TaskType

DEMO_PROJECT = "Demo: phone case inspection"
ACCOUNTS = (  # email, name, site admin, role in the demo project
    ("admin@demo.concord", "Avery Admin", True, Role.admin),
    ("rita.reviewer@demo.concord", "Rita Reviewer", False, Role.reviewer),
    ("ivan.inspector@demo.concord", "Ivan Inspector", False, Role.inspector),
)

Progress = Callable[[int, int, str], None]  # done, total, what (as the importers report)


@dataclass
class DemoLogin:
    email: str
    password: str
    role: str


def ensure_accounts(db: Session, settings: Settings) -> list[DemoLogin]:
    """The demo's people, with passwords generated on first run and kept (0600) in the data dir."""
    path = settings.data_dir / "demo-logins.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    logins = []
    for email, name, site_admin, role in ACCOUNTS:
        password = saved.get(email) or secrets.token_urlsafe(12)
        user = auth_service.get_user_by_email(db, email)
        if user is None:
            user = auth_service.create_user(db, email=email, display_name=name, password=password,
                                            is_site_admin=site_admin)
        elif email not in saved:
            user.password_hash = hash_password(password)  # the file was lost: issue a new one
        saved[email] = password
        logins.append(DemoLogin(email, password, "site admin" if site_admin else str(role)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(saved, handle, indent=1)
    return logins


def ensure_project(db: Session, storage: Storage, settings: Settings, *, n_images: int,
                   progress: Progress) -> Project:
    project = db.scalar(select(Project).where(Project.name == DEMO_PROJECT))
    if project is not None:
        return project
    spec = project_service.ProjectSpec(
        name=DEMO_PROJECT,
        description="Moulded phone cases from three lines, two cameras and two shifts. Five inspectors "
        "labeled a calibration round, three labels per image.",
        classes=[project_service.ClassSpec(name=n, definition=d) for n, d in DEFINITIONS.items()],
        task_type=TaskType.both,
        labels_per_image=3,
    )
    project = project_service.create_project(db, spec=spec, creator=None)
    for email, _name, _admin, role in ACCOUNTS:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        auth_service.set_membership(db, project_id=project.id, user=user, role=role, actor=None)
    source = write_demo_source(settings.data_dir / "demo-source", n_images=n_images)
    progress(n_images, n_images, "rendered images")
    import_demo_labels(db, storage, settings, project=project, source=source, progress=progress)
    add_examples(db, project=project)
    analysis.run_drift(db, storage=storage, project_id=project.id,
                       progress=lambda f, m: progress(int(100 * f), 100, m))
    return project


def add_examples(db: Session, *, project: Project) -> None:
    """Give each class of the defect book a gold image as its example, as an admin would."""
    for label_class in project_service.classes_of(db, project.id):
        image = db.scalar(select(Image).where(Image.project_id == project.id, Image.is_gold.is_(True),
                                              Image.gold_label_class_id == label_class.id).order_by(Image.id))
        if image is not None:
            defect_book.add_example(db, project=project, class_id=label_class.id, image_id=image.id,
                                    note="A gold image: its answer is known.", actor=None)


def import_demo_labels(db: Session, storage: Storage, settings: Settings, *, project: Project, source: DemoSource,
                       progress: Progress) -> None:
    """Bring the images and labels in through the Label Studio importer, as a factory would, then
    let the consistency service find the conflicts."""
    report = imports.ImportReport()
    try:
        imports.import_labelstudio(db, storage=storage, settings=settings, project=project,
                                   parsed=labelstudio.load(source.tasks_path), root=ImagesRoot(source.root),
                                   gold=source.gold, progress=progress, report=report)
    except BaseException:
        imports.discard(db, storage, report)
        raise
    consistency.recompute_project(db, project_id=project.id, progress=lambda f, m: progress(int(100 * f), 100, m))
