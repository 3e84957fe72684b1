"""Bad configuration stops start-up with one line naming the setting; a good one starts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import EXAMPLE_SECRET_KEY


def run_concord(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**clean, **env}, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], setting: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("CONCORD_DATABASE_URL", "not a url at all"),
        ("CONCORD_DATABASE_URL", "mysql://root@localhost/concord"),
        ("CONCORD_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/concord"),
        ("CONCORD_SECRET_KEY", "short"),
        ("CONCORD_SECRET_KEY", EXAMPLE_SECRET_KEY),
    ],
)
def test_bad_setting_stops_serve_with_one_line(setting: str, value: str, tmp_path: Path) -> None:
    env = {"CONCORD_DATA_DIR": str(tmp_path / "data"), "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
           setting: value}
    assert_one_clear_line(run_concord(["serve", "--port", "1"], env), setting)


def test_unwritable_data_dir_stops_serve_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {"CONCORD_DATA_DIR": str(blocker / "data"), "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    assert_one_clear_line(run_concord(["serve", "--port", "1"], env), "CONCORD_DATA_DIR")


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {"CONCORD_DATA_DIR": str(tmp_path / "data"), "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    result = run_concord(["serve", "--port", "1"], env)
    assert_one_clear_line(result, "CONCORD_DATABASE_URL")
    assert "concord db upgrade" in result.stderr


def test_cli_creates_schema_user_project_and_reports_stats(tmp_path: Path) -> None:
    env = {"CONCORD_DATA_DIR": str(tmp_path / "data"), "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    assert run_concord(["db", "upgrade"], env).returncode == 0
    created = run_concord(["user", "create", "--email", "Ada@Example.com", "--name", "Ada", "--site-admin",
                           "--password-stdin"], env, stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    project = run_concord(["project", "create", "--name", "Housings", "--classes", "ok,scratch,dent,pit"], env)
    assert project.returncode == 0, project.stderr
    project_id = int(project.stdout.strip())
    stats = run_concord(["project", "stats", "Housings", "--json"], env)
    assert stats.returncode == 0, stats.stderr
    import json

    figures = json.loads(stats.stdout)
    assert figures["project_id"] == project_id
    assert figures["images"] == 0
    assert [c["name"] for c in figures["classes"]] == ["ok", "scratch", "dent", "pit"]
    again = run_concord(["project", "create", "--name", "Housings", "--classes", "ok"], env)
    assert again.returncode == 1 and "already exists" in again.stderr
    missing = run_concord(["project", "stats", "Nope"], env)
    assert missing.returncode == 1 and "no project" in missing.stderr
