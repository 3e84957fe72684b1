"""A real Concord server (uvicorn in a subprocess) on a fresh database, for browser and HTTP tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import make_sessionmaker
from tests.support.databases import engine_url

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    engine: Engine
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(engine: Engine, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(CONCORD_DATABASE_URL=engine_url(engine), CONCORD_DATA_DIR=str(data_dir), **extra)
    return env


@contextmanager
def live_server(engine: Engine, data_dir: Path, *, env: dict[str, str] | None = None,
                start_timeout: float = 120.0, serve_args: list[str] | None = None) -> Iterator[LiveServer]:
    """Serve on a free port until the block ends; fails with the server's log if it does not come up.

    `serve_args`: run the operator's command, `concord serve ... <serve_args>`, instead of bare uvicorn.
    """
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    if serve_args is not None:
        command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                   *serve_args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=server_env(engine, data_dir, **(env or {})),
                                   stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", engine, data_dir, process, log_path)
    try:
        wait_until_up(server, timeout=start_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(server: LiveServer, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {timeout}s:\n{server.log()}")


class RestartableServer:
    """uvicorn on one fixed port that a test SIGKILLs (or that kills itself at a fault point) and starts
    again, each time with the environment it likes: crash tests (reliability #39)."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine, self.data_dir = engine, data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 60.0, **env: str) -> None:
        assert self.process is None or self.process.poll() is not None, "the server is still running"
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=server_env(self.engine, self.data_dir, **env),
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(LiveServer(self.base_url, self.engine, self.data_dir, self.process, self.log_path), timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def wait_dead(self, timeout: float = 10.0) -> int:
        """The exit status of a server expected to have died (-9 for a SIGKILL)."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
