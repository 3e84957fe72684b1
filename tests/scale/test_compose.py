"""docker-compose.yml, checked by reading (Docker does not run here): the scaled-out stack is wired."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_every_dependency_and_volume_exists(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], set(compose.get("volumes", {}))
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in volumes, f"{name}: unknown volume {source}"
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_the_app_scales_behind_the_proxy(compose: dict[str, Any]) -> None:
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    assert "ports" not in app and "container_name" not in app  # `--scale app=3` needs both absent
    assert any(str(port).endswith(":80") for port in proxy["ports"])
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    assert re.search(r"dynamic a app 8000", caddyfile)
    assert "--proxy-headers" in (REPO / "Dockerfile").read_text()


def test_app_and_worker_share_the_database_and_the_object_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["worker"]["command"][:2] == ["concord", "worker"]
    for name in ("app", "worker", "init"):
        env = services[name]["environment"]
        assert env["CONCORD_STORAGE_BACKEND"] == "s3"
        assert env["CONCORD_S3_ENDPOINT_URL"] == "http://objectstore:9000"
        assert env["CONCORD_DATABASE_URL"].endswith("@db:5432/concord")
    assert "objectstore" in services and "${CONCORD_S3_SECRET_ACCESS_KEY:?" in (REPO / "docker-compose.yml").read_text()
    assert services["app"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert "concord db upgrade" in services["init"]["command"][-1]
