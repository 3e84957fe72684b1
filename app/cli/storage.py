"""`concord storage migrate | fsck | check` and `concord fsck`."""
from __future__ import annotations

import json
from datetime import timedelta

import typer

from app.cli import _common
from app.core.config import Settings
from app.core.errors import ConcordError, ConfigError
from app.core.storage import LocalStorage, Storage, make_storage

storage_app = typer.Typer(help="Where images, thumbnails and exports are kept.", no_args_is_help=True)


def backend(settings: Settings, name: str) -> Storage:
    """The named backend, configured from the settings whatever CONCORD_STORAGE_BACKEND says."""
    try:
        if name == "local":
            return LocalStorage(settings.media_dir)
        return make_storage(settings.model_copy(update={"storage_backend": name}))
    except ConfigError as exc:
        _common.fail(str(exc), code=2)


@storage_app.command("migrate")
def migrate(
    to: str = typer.Option(..., "--to", help="Target backend: s3 or local"),
    source: str = typer.Option("", "--from", help="Source backend (default: the other one)"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
) -> None:
    """Copy every stored file to another backend, verifying SHA-256; rerun to resume."""
    from app.files.migrate import MigrationError, migrate_store

    if to not in ("s3", "local"):
        _common.fail("--to must be s3 or local", code=2)
    source = source or ("local" if to == "s3" else "s3")
    if source == to:
        _common.fail("the source and the target are the same backend", code=2)
    settings = _common.settings()
    origin, target = backend(settings, source), backend(settings, to)
    try:
        with _common.progress() as bar:
            task = bar.add_task(f"{source} → {to}", total=None)
            summary = migrate_store(origin, target,
                                    report=lambda done, total, key: bar.update(task, completed=done, total=total))
    except (MigrationError, ConcordError, OSError) as exc:
        _common.fail(f"{exc}; nothing copied so far is lost: run the same command again to resume")
    if as_json:
        typer.echo(json.dumps(summary.as_json()))
    else:
        typer.echo(f"{summary.copied} copied ({summary.bytes_copied} bytes), {summary.skipped} already there, "
                   f"{summary.total} in all")


def fsck(
    fix: bool = typer.Option(False, "--fix", help="Delete orphaned files (older than --min-age)"),
    min_age_minutes: int = typer.Option(60, "--min-age", min=0,
                                        help="Leave files younger than this many minutes (uploads in flight)"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Find rows pointing to missing files and files no row references; exit 1 when any remain."""
    from app.files.fsck import fsck as check

    settings = _common.settings()
    storage = backend(settings, settings.storage_backend)
    with _common.session() as db:
        report = check(db, storage=storage, fix=fix, min_age=timedelta(minutes=min_age_minutes),
                       staging_dir=settings.data_dir / "tmp")
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        for missing in report.missing:
            typer.echo(f"missing  {missing.key}  ({missing.where} row {missing.row_id})")
        for orphan in report.orphans + report.temp_files + report.staged_files:
            typer.echo(f"{'removed' if fix else 'orphan '}  {orphan}")
        typer.echo(f"{report.files} files, {report.rows} rows: {len(report.missing)} missing, "
                   f"{len(report.orphans) + len(report.temp_files) + len(report.staged_files)} orphaned, "
                   f"{report.removed} removed, {report.young_orphans} too young to judge")
    if report.missing or (report.orphans and not fix):
        raise typer.Exit(1)


@storage_app.command("check")
def check_bucket(create: bool = typer.Option(False, "--create", help="Create the S3 bucket if it is missing")) -> None:
    """Check that the configured storage answers (and, for S3, that the bucket exists)."""
    settings = _common.settings()
    storage = backend(settings, settings.storage_backend)
    check = getattr(storage, "check_bucket", None)
    try:
        ok = check(create=create) if check else True
    except ConcordError as exc:
        _common.fail(exc.message)
    if not ok:
        _common.fail(f"bucket {settings.s3_bucket!r} does not exist (use --create)")
    typer.echo(f"storage ok: {settings.storage_backend}")


def register(root: typer.Typer) -> None:
    storage_app.command("fsck")(fsck)
    root.add_typer(storage_app, name="storage")
    root.command("fsck")(fsck)
