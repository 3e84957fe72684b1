"""Schema fuzzing of the JSON API with schemathesis (reliability #49), once per role.

A real world is seeded and committed in a fresh database of each kind (images with files, answers,
conflicts, a decision, a frozen version with an export, a job, tokens); then every operation under
/api/ is called with generated data as an inspector, a reviewer and an admin, each with its own API
token, path parameters filled with that world's ids (else nearly every call would be a 404). Positive
(schema-valid) and negative (schema-violating) data; checks: no 5xx, every status and body as the
OpenAPI description says (app/core/openapi.py documents the errors), negative data rejected with a
4xx, and authentication not ignored (the same call without the token is refused).

The number of examples per operation, role and mode is bounded so the suite stays quick (8 positive,
4 negative); set CONCORD_FUZZ_EXAMPLES (e.g. 100 nightly, 1000 by hand) for a deeper run.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from tests.api_schema.world import FuzzWorld, seed
from tests.conftest import make_test_settings
from tests.support.databases import engine_url, fresh_database

EXAMPLES = int(os.environ.get("CONCORD_FUZZ_EXAMPLES", "8"))  # per operation, role and positive mode
NEGATIVE_EXAMPLES = max(1, EXAMPLES * 3 // 5)  # schema-violating calls mostly end at the same validator
ROLES = ("inspector", "reviewer", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]
# Unknown query parameters are ignored by design (HTTP APIs do), and the token is sent by the test itself.
CONFIG = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False,
                                                       "with-security-parameters": False}})
# Operations left out, and why (each is covered elsewhere).
SKIPPED = {
    # Generated multipart bodies are not images: every call is a per-file refusal; tests/hostile/test_uploads.py
    # and tests/images/test_upload.py send real and hostile files.
    "POST /api/v1/projects/{project_id}/images",
}


@dataclass
class Target:
    app: FastAPI
    world: FuzzWorld
    schema: Any


@pytest.fixture(scope="module")
def target(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A fresh, committed world on the database kind of `engine`, and the app serving it."""
    kind = engine.dialect.name.replace("postgresql", "postgres")
    workdir = tmp_path_factory.mktemp(f"fuzz-{kind}")
    with fresh_database(kind, workdir) as fresh:
        app = create(fresh, workdir / "data")
        world = seed(app)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
        yield Target(app, world, schema)


def create(fresh: Engine, data_dir: Path) -> FastAPI:
    from app.main import create_app

    # Jobs stay queued (no in-app runner thread races the fuzzer for SQLite's write lock).
    return create_app(make_test_settings(engine_url(fresh), data_dir, jobs_in_app=False))


PARAM = re.compile(r"{(\w+)}")


def operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/") and f"{operation.method.upper()} {operation.path}" not in SKIPPED:
            found.append(operation)
    return found


def fuzz_operation(operation: Any, role: str, world: FuzzWorld, mode: GenerationMode) -> list[str]:
    """Run the checks on a bounded number of generated calls; the distinct failures, one line each."""
    token = world.tokens[role]
    names = PARAM.findall(operation.path)
    path_parameters = {n: world.path_value(n, role) for n in names if world.path_value(n, role) is not None}
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    failures: dict[str, str] = {}

    examples = EXAMPLES if mode == GenerationMode.POSITIVE else NEGATIVE_EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: a 500 in production
            key = f"{case.method} {case.path} as {role} ({mode.value}): server error {type(exc).__name__}: {exc}"
            failures.setdefault(key.splitlines()[0][:300], case.as_curl_command(headers={}))
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' failures: one line per distinct one
            text = [line for line in str(exc).strip().splitlines() if line.strip()]
            key = f"{case.method} {case.path} as {role} ({mode.value}): {text[0] if text else type(exc).__name__}"
            failures.setdefault(key[:300], "\n    ".join(text[1:10]))

    try:
        run()
    except Unsatisfiable:  # negative mode, and nothing left to negate (the path parameters are fixed)
        assert mode == GenerationMode.NEGATIVE
    return [f"{k}\n    {v}" for k, v in failures.items()]


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_the_api_holds_to_its_schema(target: Target, role: str) -> None:
    problems: list[str] = []
    ops = operations(target.schema)
    assert len(ops) >= 40, [f"{o.method} {o.path}" for o in ops]
    for operation in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problems += fuzz_operation(operation, role, target.world, mode)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
