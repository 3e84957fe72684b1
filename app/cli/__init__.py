"""The `concord` command. Each module registers its commands; the work happens in services."""
from __future__ import annotations

import typer

from app.cli import database, demo, projects, server, users

root = typer.Typer(
    name="concord",
    help="Concord: labeling and review for consistent visual-inspection labels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every command module of the product, in one list.
COMMAND_MODULES = [database, server, users, projects, demo]
for module in COMMAND_MODULES:
    module.register(root)


def main() -> None:
    root()
