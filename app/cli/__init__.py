"""The `concord` command. Each module registers its commands; the work happens in services."""
from __future__ import annotations

import typer

from app.cli import analysis as analysis_cli
from app.cli import backup as backup_cli
from app.cli import consistency as consistency_cli
from app.cli import database, demo, projects, server, users
from app.cli import datasets as datasets_cli
from app.cli import export as export_cli
from app.cli import imports as imports_cli
from app.cli import model as model_cli
from app.cli import model_compare as model_compare_cli
from app.cli import model_line as model_line_cli
from app.cli import model_voice as model_voice_cli
from app.cli import review as review_cli
from app.cli import storage as storage_cli
from app.cli import tokens as tokens_cli
from app.cli import worker as worker_cli

root = typer.Typer(
    name="concord",
    help="Concord: labeling and review for consistent visual-inspection labels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every command module of the product, in one list.
COMMAND_MODULES = [database, server, users, projects, demo, storage_cli, worker_cli, review_cli, datasets_cli,
                   export_cli, imports_cli, analysis_cli, tokens_cli, consistency_cli, backup_cli,
                   model_cli, model_compare_cli, model_line_cli, model_voice_cli]
for module in COMMAND_MODULES:
    module.register(root)


def main() -> None:
    root()
