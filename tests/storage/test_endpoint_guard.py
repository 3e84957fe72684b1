"""Reliability #28 for the S3 endpoint: no loopback, private, link-local or metadata targets unless a
setting allows a local store, checked at start-up and again on every request."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.errors import ConfigError
from app.core.netguard import UnsafeAddress, check_url
from app.core.s3storage import S3Storage
from app.core.storage import StorageUnavailable
from tests.support.s3 import make_s3_storage, s3_settings


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        if host in table:
            return table[host]
        return [host]  # IP literals resolve to themselves

    return resolve


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9000", "http://[::1]:9000", "http://169.254.169.254", "http://2130706433",
    "http://0x7f000001", "http://10.0.0.8:9000", "http://192.168.1.20", "http://[::ffff:127.0.0.1]",
    "http://localhost:9000", "http://0.0.0.0", "http://100.64.0.1",
])
def test_private_and_special_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeAddress):
        check_url(url)  # the system resolver: decimal/hex spellings and localhost resolve locally


def test_a_dns_name_resolving_to_a_private_address_is_refused() -> None:
    dns = fake_dns({"s3.internal.example": ["52.216.8.8", "10.1.2.3"]})
    with pytest.raises(UnsafeAddress, match=r"10\.1\.2\.3"):
        check_url("https://s3.internal.example", resolve=dns)


def test_public_addresses_pass() -> None:
    assert check_url("https://52.216.8.8") == "52.216.8.8"
    assert check_url("https://s3.example.com", resolve=fake_dns({"s3.example.com": ["52.216.8.8"]})) == "s3.example.com"


@pytest.mark.parametrize("url", ["ftp://52.216.8.8", "http://user:pw@52.216.8.8", "http://52.216.8.8/?x=1", "file:///etc"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeAddress):
        check_url(url)


def test_the_local_store_setting_admits_loopback_but_never_metadata() -> None:
    check_url("http://127.0.0.1:9000", allow_private=True)
    check_url("http://10.0.0.8:9000", allow_private=True)
    for url in ("http://169.254.169.254", "http://[fd00:ec2::254]", "http://100.100.100.200", "http://224.0.0.1"):
        with pytest.raises(UnsafeAddress):
            check_url(url, allow_private=True)


def test_the_app_refuses_to_start_on_a_private_endpoint(tmp_path: Path) -> None:
    settings = Settings(**s3_settings("http://127.0.0.1:9000", tmp_path, s3_allow_private_endpoint=False))
    with pytest.raises(ConfigError) as refused:
        S3Storage.from_settings(settings)
    assert refused.value.setting == "CONCORD_S3_ENDPOINT_URL"
    with pytest.raises(ConfigError) as missing:
        S3Storage.from_settings(settings.model_copy(update={"s3_bucket": ""}))
    assert missing.value.setting == "CONCORD_S3_BUCKET"


def test_every_request_is_checked_again(s3_endpoint: str, tmp_path: Path) -> None:
    # DNS rebinding: the endpoint looked public at start-up, then resolves to the metadata service.
    answers = {"127.0.0.1": ["52.216.8.8"]}
    settings = Settings(**s3_settings(s3_endpoint, tmp_path, s3_allow_private_endpoint=False))
    storage = S3Storage.from_settings(settings, resolve=fake_dns(answers))
    storage.check_bucket(create=True)
    storage.put_bytes("images/a.png", b"fine")
    answers["127.0.0.1"] = ["169.254.169.254"]
    with pytest.raises(StorageUnavailable):
        storage.put_bytes("images/b.png", b"refused")
    answers["127.0.0.1"] = ["52.216.8.8"]
    assert not storage.exists("images/b.png")


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def _redirect(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = _redirect

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector(s3_endpoint: str) -> Iterator[str]:
    _Redirector.target = s3_endpoint
    server = HTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_redirect_is_not_followed(redirector: str, s3_endpoint: str, tmp_path: Path) -> None:
    real = make_s3_storage(s3_endpoint, tmp_path)
    real.put_bytes("images/secret.png", b"private bytes")
    settings = Settings(**s3_settings(redirector, tmp_path, bucket=real.bucket))
    fooled = S3Storage.from_settings(settings)
    with pytest.raises((StorageUnavailable, FileNotFoundError)):
        fooled.open("images/secret.png")


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "value"), [("CONCORD_S3_ENDPOINT_URL", "http://169.254.169.254"),
                                                ("CONCORD_S3_BUCKET", "")])
def test_serve_and_worker_stop_with_one_line(setting: str, value: str, tmp_path: Path) -> None:
    from app.core.db import make_engine
    from app.core.migrate import upgrade
    from tests.core.test_startup import assert_one_clear_line, run_concord

    url = f"sqlite:///{tmp_path}/c.db"
    engine = make_engine(url)
    upgrade(engine, "head")
    engine.dispose()
    env = {"CONCORD_DATA_DIR": str(tmp_path / "data"), "CONCORD_DATABASE_URL": url, "CONCORD_STORAGE_BACKEND": "s3",
           "CONCORD_S3_ENDPOINT_URL": "http://52.216.8.8", "CONCORD_S3_BUCKET": "concord", setting: value}
    assert_one_clear_line(run_concord(["serve", "--port", "1"], env), setting)
    assert_one_clear_line(run_concord(["worker", "--once"], env), setting)
