"""A download's name ends in the extension of the format the server decoded, whatever the uploader called
the file (finding 2): a JPEG/HTML polyglot uploaded as `poly.html` must not be saved as an .html page."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.storage import LocalStorage
from app.images.ingest import download_name
from tests.factories import make_member, make_project
from tests.images import files
from tests.images.test_upload import upload


def _names(disposition: str) -> tuple[str, str]:
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    encoded = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    return fallback, encoded


@pytest.mark.parametrize(("name", "fmt", "want"), [
    ("poly.html", "JPEG", "poly.html.jpg"),
    ("poly.HTML", "PNG", "poly.HTML.png"),
    ("photo.jpeg", "JPEG", "photo.jpeg"),
    ("photo.JPG", "JPEG", "photo.JPG"),
    ("scan.png", "JPEG", "scan.jpg"),
    ("scan.tiff", "TIFF", "scan.tiff"),
    ("no-extension", "WEBP", "no-extension.webp"),
    ("x.svg", "PNG", "x.svg.png"),
    ("../../evil.html", "BMP", "evil.html.bmp"),
    (".html", "PNG", "html.png"),
    ("a" * 300 + ".html", "JPEG", "a" * 251 + ".jpg"),
])
def test_the_name_ends_in_the_verified_formats_extension(name: str, fmt: str, want: str) -> None:
    assert download_name(name, fmt) == want


def test_a_polyglot_named_html_downloads_as_an_image(db: Session, app: FastAPI, tmp_path: Path,
                                                     client_for: Callable[[User], TestClient]) -> None:
    app.state.storage, saved = LocalStorage(tmp_path / "media"), app.state.storage
    try:
        project = make_project(db)
        admin = make_member(db, project, Role.admin, password=None)
        client = client_for(admin)
        body = upload(client, project.id, ("poly.html", files.png_html_polyglot(), "text/html"),
                      ("photo.html", files.jpeg(), "text/html")).json()
        for result, ext in zip(body["results"], ("png", "jpg"), strict=True):
            url = f"/projects/{project.id}/images/{result['image_id']}/file"
            for query in ("?download=true", ""):
                served = client.get(url + query)
                assert served.status_code == 200
                fallback, encoded = _names(served.headers["content-disposition"])
                assert fallback.endswith(f".{ext}") and encoded.endswith(f".html.{ext}"), served.headers
    finally:
        app.state.storage = saved
