"""Projects and their label classes."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Membership, User
from app.core import audit
from app.core.errors import Conflict, Invalid, NotFound
from app.projects.models import DefectBookVersion, LabelClass, Project, TaskType

# A pleasant, distinguishable palette (Okabe-Ito plus extras) for classes without a colour.
PALETTE = ["#009E73", "#E69F00", "#D55E00", "#0072B2", "#CC79A7", "#56B4E9", "#F0E442", "#999999",
           "#882255", "#44AA99"]


@dataclass
class ClassSpec:
    name: str
    hotkey: str | None = None
    colour: str | None = None
    definition: str = ""


@dataclass
class ProjectSpec:
    name: str
    classes: list[ClassSpec] = field(default_factory=list)
    task_type: TaskType = TaskType.both
    description: str = ""
    labels_per_image: int = 1


def create_project(db: Session, *, spec: ProjectSpec, creator: User | None) -> Project:
    """Raises Conflict for a taken name, Invalid for bad classes."""
    name = spec.name.strip()
    if not name or len(name) > 120:
        raise Invalid("a project needs a name of 1 to 120 characters", field="name")
    if db.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Conflict(f"a project named {name!r} already exists", field="name")
    if not spec.classes:
        raise Invalid("a project needs at least one class", field="classes")
    project = Project(name=name, description=spec.description, task_type=spec.task_type,
                      labels_per_image=spec.labels_per_image, created_by_id=creator.id if creator else None)
    db.add(project)
    db.flush()
    for position, class_spec in enumerate(spec.classes):
        add_class(db, project=project, spec=class_spec, position=position)
    db.flush()
    db.add(DefectBookVersion(project_id=project.id, version=1, summary="Defect book created",
                             change={"kind": "created"}, snapshot=defect_book_snapshot(db, project.id),
                             created_by_id=creator.id if creator else None))
    audit.record(db, action="project.created", actor_id=creator.id if creator else None,
                 project_id=project.id, object_type="project", object_id=project.id)
    return project


def add_class(db: Session, *, project: Project, spec: ClassSpec, position: int) -> LabelClass:
    name = spec.name.strip()
    if not name or len(name) > 80:
        raise Invalid("a class needs a name of 1 to 80 characters", field="classes")
    existing = db.scalar(select(LabelClass.id).where(LabelClass.project_id == project.id, LabelClass.name == name))
    if existing is not None:
        raise Invalid(f"class {name!r} is listed twice", field="classes")
    hotkey = spec.hotkey if spec.hotkey is not None else _default_hotkey(position)
    label_class = LabelClass(project_id=project.id, name=name, hotkey=hotkey,
                             colour=spec.colour or PALETTE[position % len(PALETTE)],
                             definition=spec.definition, position=position)
    db.add(label_class)
    return label_class


def _default_hotkey(position: int) -> str | None:
    return str(position + 1) if position < 9 else None


def parse_class_list(text: str) -> list[ClassSpec]:
    """`ok,scratch,dent` → class specs (hotkeys 1..9 in order)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [ClassSpec(name=n) for n in names]


def defect_book_snapshot(db: Session, project_id: int) -> list[dict[str, object]]:
    return [
        {"id": c.id, "name": c.name, "definition": c.definition, "hotkey": c.hotkey, "colour": c.colour,
         "active": c.is_active}
        for c in classes_of(db, project_id, include_inactive=True)
    ]


def classes_of(db: Session, project_id: int, *, include_inactive: bool = False) -> Sequence[LabelClass]:
    query = select(LabelClass).where(LabelClass.project_id == project_id)
    if not include_inactive:
        query = query.where(LabelClass.is_active.is_(True))
    return db.scalars(query.order_by(LabelClass.position, LabelClass.id)).all()


def get_project(db: Session, project_id: int) -> Project:
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound("project not found")
    return project


def find_project(db: Session, ref: str) -> Project:
    """A project by id or by name (the CLI accepts either)."""
    project = db.get(Project, int(ref)) if ref.isdigit() else None
    project = project or db.scalar(select(Project).where(Project.name == ref))
    if project is None:
        raise NotFound(f"no project with id or name {ref!r}")
    return project


def projects_for(db: Session, user: User) -> Sequence[Project]:
    """The projects the user may see: all for a site admin, else those they are a member of."""
    query = select(Project).order_by(Project.name)
    if not user.is_site_admin:
        query = query.join(Membership, Membership.project_id == Project.id).where(Membership.user_id == user.id)
    return db.scalars(query).all()
