"""Model runs: start one on a frozen dataset version, train it (the job body), read runs and predictions.

A run trains on the version's train and val items that carry a label class, with k-fold out-of-fold
predictions (look-alikes share a fold), and the final model predicts the version's test items, which
never enter training. Same version, recipe and seed: byte-identical probabilities.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import ConcordError, Conflict, Invalid, NotFound
from app.core.storage import Storage
from app.datasets import service as datasets_service
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobState
from app.jobs.registry import Progress, no_progress
from app.modeling import backbones, data, evaluation, features
from app.modeling.models import ModelRun, RunPrediction, RunState
from app.projects.service import find_project
from app.training import engine
from app.training.cancel import Cancelled
from app.training.recipe import FittedModel, Recipe, get_recipe, recipes

JOB_KIND = "modeling.train"
MAX_FOLDS = 20
MAX_SEED = 2**31 - 1
FEATURES_SHARE = 0.6  # of a run's progress bar: extracting features; the rest is fitting and scoring
NUMBER_ATTEMPTS = 3
FINISHED = (RunState.done, RunState.failed, RunState.cancelled)


def recipes_list() -> list[dict[str, Any]]:
    """The recipes a run can use, the default first (RecipeIdentity.as_dict of each)."""
    return [identity.as_dict() for identity in recipes()]


def artifact_key(run: ModelRun) -> str:
    return f"models/{run.project_id}/run-{run.id}.bin"


def start_run(db: Session, *, project_id: int, version_id: int, recipe: str | None = None, seed: int = 0,
              folds: int = 5, backbone_key: str | None = None, storage: Storage | None = None,
              user: User | None) -> ModelRun:
    """A queued run and its "modeling.train" job. Raises Invalid (nothing stored) for a version of
    another project, an unknown recipe, a bad seed or fold count, a missing or unusable backbone, or a
    version whose train and val images cannot train a model (fewer than two classes or too few images)."""
    if not 2 <= folds <= MAX_FOLDS:
        raise Invalid(f"folds must be between 2 and {MAX_FOLDS}", field="folds")
    if not 0 <= seed <= MAX_SEED:
        raise Invalid(f"seed must be between 0 and {MAX_SEED}", field="seed")
    chosen = _recipe(project_id, recipe, backbone_key, storage)  # first: a backbone's check reads no rows
    try:
        version = datasets_service.get_version(db, project_id, version_id)
    except NotFound:
        raise Invalid("no such dataset version in this project", field="version_id") from None
    problem = data.problem_with(data.training_counts(db, version.id))
    if problem is not None:
        raise Invalid(problem, field="version_id")
    run = _numbered_run(db, project_id=project_id, version_id=version.id, identity=chosen.identity.as_dict(),
                        backbone_key=backbone_key, seed=seed, folds=folds, user=user)
    job = jobs_service.enqueue(db, kind=JOB_KIND, project_id=project_id, payload={"run_id": run.id},
                               created_by=user)
    run.job_id = job.id
    audit.record(db, action="model.run_started", actor_id=user.id if user else None, project_id=project_id,
                 object_type="model_run", object_id=run.id,
                 data={"number": run.number, "version_id": version.id, "recipe": run.recipe, "seed": seed,
                       "folds": folds})
    return run


def _numbered_run(db: Session, *, project_id: int, identity: dict[str, Any], user: User | None,
                  **columns: Any) -> ModelRun:
    """The run with the project's next number; two runs started at once both get one (on Postgres the
    loser of the unique (project, number) race takes the number after)."""
    for _attempt in range(NUMBER_ATTEMPTS):
        number = (db.scalar(select(func.max(ModelRun.number)).where(ModelRun.project_id == project_id)) or 0) + 1
        run = ModelRun(project_id=project_id, number=number, recipe=identity["name"], recipe_identity=identity,
                       state=RunState.queued, classes=[], metrics={}, error="",
                       created_by_id=user.id if user else None, **columns)
        try:
            with db.begin_nested():
                db.add(run)
                db.flush()
            return run
        except IntegrityError:
            continue
    raise Conflict("other runs were being numbered at the same moment; start it again")


def _recipe(project_id: int, name: str | None, backbone_key: str | None, storage: Storage | None) -> Recipe:
    backbone: bytes | None = None
    if backbone_key is not None:
        if storage is None:
            raise Invalid("a backbone needs the storage it was uploaded to", field="backbone")
        backbone = backbones.read(storage, project_id=project_id, key=backbone_key)
    try:
        return get_recipe(name, backbone=backbone)
    except ValueError as exc:
        raise Invalid(str(exc), field="backbone" if "backbone" in str(exc) else "recipe") from exc


def train_run(db: Session, *, storage: Storage, run_id: int, progress: Progress = no_progress,
              should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train the run and store its predictions, metrics and model (the "modeling.train" job body).

    Safe to run again (a retried job): earlier predictions of the run are replaced. A version that
    cannot train (fewer than two classes, too few images or groups, an image that is not one) ends
    the run `failed` with the reason in `error`; a stop request ends it `cancelled`. Returns the job's
    result: {"run_id", "state", "url", "extracted"} (and "error" when the run failed); `extracted`
    counts the images whose features were not in the cache.
    """
    run = db.get(ModelRun, run_id)
    if run is None:
        raise NotFound(f"model run {run_id} not found")
    if run.state == RunState.done:
        return _result(run)
    started = time.perf_counter()
    run.state, run.error, run.finished_at = RunState.running, "", None
    db.execute(delete(RunPrediction).where(RunPrediction.run_id == run.id))
    extracted: int | None = None
    try:
        extracted = _train(db, storage=storage, run=run, progress=progress, should_stop=should_stop)
    except Cancelled:
        _finish(db, run, RunState.cancelled, "stopped on request")
    except (ValueError, Invalid) as exc:
        _finish(db, run, RunState.failed, exc.message if isinstance(exc, ConcordError) else str(exc))
    else:
        run.state = RunState.done
        run.finished_at = utcnow()
    run.seconds = time.perf_counter() - started
    return {**_result(run), "extracted": extracted}


def _finish(db: Session, run: ModelRun, state: RunState, error: str) -> None:
    db.execute(delete(RunPrediction).where(RunPrediction.run_id == run.id))
    run.state, run.error, run.finished_at = state, error, utcnow()
    run.metrics, run.artifact_key = {}, None


def _result(run: ModelRun) -> dict[str, Any]:
    result: dict[str, Any] = {"run_id": run.id, "state": run.state,
                              "url": f"/projects/{run.project_id}/models/{run.id}"}
    if run.error:
        result["error"] = run.error
    return result


def _train(db: Session, *, storage: Storage, run: ModelRun, progress: Progress,
           should_stop: Callable[[], bool] | None) -> int:
    """Train and store; the number of images whose features were extracted (not cached)."""
    version = datasets_service.get_version(db, run.project_id, run.version_id)
    loaded = data.load_version(db, version)
    problem = data.problem_with(data.training_counts(db, version.id))
    if problem is not None:
        raise ValueError(problem)
    recipe = _recipe(run.project_id, run.recipe, run.backbone_key, storage)
    # The first report comes after the cache lookup, so its checkpoint ends the reads before any
    # extraction (on SQLite a transaction holds the write lock).
    sources = [features.ImageSource(i.sha256, i.storage_key, i.file_name) for i in loaded.training + loaded.evaluation]
    found = features.features_for(db, storage=storage, recipe=recipe, sources=sources,
                                  progress=lambda f, m: progress(f * FEATURES_SHARE, m),
                                  should_stop=should_stop)
    n_train = len(loaded.training)
    x_train, x_eval = found.matrix[:n_train], found.matrix[n_train:]
    index = loaded.class_index
    y_train = np.array([index[i.label_class_id] for i in loaded.training], dtype=np.int64)
    groups = np.array([i.group for i in loaded.training])
    trained = engine.train(recipe, x_train, y_train, n_classes=len(loaded.classes), seed=run.seed, folds=run.folds,
                           groups=groups, should_stop=should_stop,
                           progress=lambda f, m: progress(FEATURES_SHARE + f * (0.95 - FEATURES_SHARE), m))
    _check_held_out(loaded)
    eval_proba = (trained.model.predict_proba(x_eval) if x_eval.shape[0]
                  else np.zeros((0, len(loaded.classes)), dtype=np.float64))
    progress(0.96, "metrics")
    _store_predictions(db, run, loaded, trained, eval_proba)
    run.metrics = _metrics(run, loaded, trained.oof_proba, eval_proba)
    run.classes = loaded.classes
    run.recipe_identity = recipe.identity.as_dict()
    run.train_count, run.eval_count = n_train, len(loaded.evaluation)
    run.artifact_key = artifact_key(run)
    storage.put_bytes(run.artifact_key, trained.model.to_bytes())
    progress(0.99, f"trained on {n_train:,} images ({found.extracted:,} new features)")
    return found.extracted


def _check_held_out(loaded: data.VersionData) -> None:
    """The evaluation's promise: no test image, nor the same bytes under another image, was seen by the
    model that predicts it. A broken promise is a bug, never a data problem: the job fails loudly."""
    seen_ids = {i.image_id for i in loaded.training}
    seen_bytes = {i.sha256 for i in loaded.training}
    if any(i.image_id in seen_ids or i.sha256 in seen_bytes for i in loaded.evaluation):
        raise AssertionError("a test image entered training")


def _metrics(run: ModelRun, loaded: data.VersionData, oof_proba: np.ndarray, eval_proba: np.ndarray) -> dict[str, Any]:
    index = loaded.class_index
    # Test images of a class no training image has cannot be scored against the head's columns.
    scored = [k for k, i in enumerate(loaded.evaluation) if i.label_class_id in index]
    y_eval = np.array([index[loaded.evaluation[k].label_class_id] for k in scored], dtype=np.int64)
    y_oof = np.array([index[i.label_class_id] for i in loaded.training], dtype=np.int64)
    metrics = evaluation.run_metrics(
        classes=loaded.classes, eval_labels=y_eval, eval_proba=eval_proba[scored], oof_labels=y_oof,
        oof_proba=oof_proba, eval_meta=[loaded.evaluation[k].meta for k in scored],
        oof_meta=[i.meta for i in loaded.training], seed=run.seed)
    metrics["reference"] = {"version_id": run.version_id, "split": data.EVALUATION_SPLIT, "settled_only": False,
                            "count": len(scored)}
    return metrics


def _store_predictions(db: Session, run: ModelRun, loaded: data.VersionData, trained: engine.Trained,
                       eval_proba: np.ndarray) -> None:
    class_ids = [c["id"] for c in loaded.classes]
    rows: list[dict[str, Any]] = []

    def add(item: data.Item, proba: np.ndarray, fold: int | None) -> None:
        top = int(np.argmax(proba))
        rows.append({"run_id": run.id, "image_id": item.image_id, "split": item.split, "out_of_fold": fold is not None,
                     "fold": fold, "label_class_id": item.label_class_id, "predicted_class_id": class_ids[top],
                     "confidence": float(proba[top]), "probabilities": [float(p) for p in proba]})
        if len(rows) >= 1000:
            db.execute(insert(RunPrediction), rows)
            rows.clear()

    for k, item in enumerate(loaded.training):
        add(item, trained.oof_proba[k], int(trained.fold_of[k]))
    for k, item in enumerate(loaded.evaluation):
        add(item, eval_proba[k], None)
    if rows:
        db.execute(insert(RunPrediction), rows)


def list_runs(db: Session, project_id: int) -> Sequence[ModelRun]:
    """The project's runs, newest first."""
    return db.scalars(select(ModelRun).where(ModelRun.project_id == project_id).order_by(ModelRun.id.desc())).all()


def get_run(db: Session, project_id: int, run_id: int) -> ModelRun:
    """Raises NotFound for an unknown id or another project's run."""
    run = db.get(ModelRun, run_id)
    if run is None or run.project_id != project_id:
        raise NotFound("model run not found")
    return run


def find_run(db: Session, ref: str) -> ModelRun:
    """A run by id ("12") or by project and number ("Bearings/3", "4/3"); NotFound otherwise."""
    project_ref, _, number = ref.strip().rpartition("/")
    run: ModelRun | None = None
    if project_ref and number.isdigit():
        project = find_project(db, project_ref)
        run = db.scalar(select(ModelRun).where(ModelRun.project_id == project.id, ModelRun.number == int(number)))
    elif not project_ref and number.isdigit():
        run = db.get(ModelRun, int(number))
    if run is None:
        raise NotFound(f"no model run {ref!r} (give a run id, or project/number)")
    return run


def prediction_rows(db: Session, run: ModelRun) -> Iterator[RunPrediction]:
    """The run's predictions in image id order, streamed."""
    query = (select(RunPrediction).where(RunPrediction.run_id == run.id).order_by(RunPrediction.image_id)
             .execution_options(yield_per=1000))
    yield from db.scalars(query)


def prediction_count(db: Session, run: ModelRun) -> int:
    return db.scalar(select(func.count()).select_from(RunPrediction).where(RunPrediction.run_id == run.id)) or 0


def load_model(storage: Storage, run: ModelRun) -> tuple[Recipe, FittedModel]:
    """The run's recipe and fitted model, from storage. Raises Conflict for a run without a model, or
    whose recipe no longer gives the same features (another recipe version or decoder)."""
    if run.state != RunState.done or not run.artifact_key:
        raise Conflict(f"run {run.number} has no trained model (it is {run.state})")
    recipe = _recipe(run.project_id, run.recipe, run.backbone_key, storage)
    if recipe.identity.feature_key != run.recipe_identity.get("feature_key"):
        raise Conflict(f"run {run.number} was trained with recipe {run.recipe_identity.get('name')} "
                       f"version {run.recipe_identity.get('version')}; this installation's recipe differs")
    with storage.open(run.artifact_key) as handle:
        return recipe, recipe.load_model(handle.read())


def run_job(db: Session, run: ModelRun) -> Job | None:
    return db.get(Job, run.job_id) if run.job_id is not None else None


def effective_state(run: ModelRun, job: Job | None) -> tuple[str, str]:
    """The run's state and error as people should see them: a run whose job failed outright (the
    worker's retries exhausted on an unexpected error) is failed, with the job's message."""
    if run.state not in FINISHED and job is not None and job.state in (JobState.failed, JobState.cancelled):
        return (RunState.failed if job.state == JobState.failed else RunState.cancelled), job.message
    return run.state, run.error
