"""Uploading through the API and the page: per-file results, nothing half-stored, limits (#1-#8)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.images.models import Image, UploadBatch
from tests.factories import image_bytes, make_member, make_project
from tests.images import files
from tests.images.conftest import media_files, temp_files

Client = Callable[[User], TestClient]


def count_images(db: Session, project_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project_id)) or 0


def upload(client: TestClient, project_id: int, *parts: tuple[str, bytes, str], **data: str):
    return client.post(
        f"/api/v1/projects/{project_id}/images",
        files=[("files", (name, body, kind)) for name, body, kind in parts],
        data=data,
    )


@pytest.fixture
def setup(db: Session, small_client_for: Client, small_app: FastAPI):
    project = make_project(db)
    admin = make_member(db, project, Role.admin, password=None)
    return project, small_client_for(admin), small_app


def test_each_file_is_stored_duplicate_or_refused_and_the_good_ones_go_in(db: Session, setup) -> None:
    project, client, app = setup
    response = upload(
        client,
        project.id,
        ("a.png", image_bytes(colour=(1, 2, 3)), "image/png"),
        ("b.jpg", files.jpeg(), "image/jpeg"),
        ("page.html", files.HTML, "text/html"),
        ("a-again.png", image_bytes(colour=(1, 2, 3)), "image/png"),
        meta='{"line": "L2", "camera": "cam-a"}',
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["stored", "stored", "refused", "duplicate"]
    assert body["results"][2]["status_code"] == 415 and "JPEG, PNG" in body["results"][2]["reason"]
    assert body["results"][3]["image_id"] == body["results"][0]["image_id"]
    assert body["counts"] == {"stored": 2, "duplicate": 1, "refused": 1}
    images = db.scalars(select(Image).where(Image.project_id == project.id).order_by(Image.id)).all()
    assert [(i.file_name, i.format, i.meta) for i in images] == [
        ("a.png", "PNG", {"line": "L2", "camera": "cam-a"}),
        ("b.jpg", "JPEG", {"line": "L2", "camera": "cam-a"}),
    ]
    batch = db.get(UploadBatch, body["batch_id"])
    assert batch.project_id == project.id and batch.stats == {"stored": 2, "duplicate": 1, "refused": 1}
    assert all(i.batch_id == batch.id and i.labels_wanted == 1 and i.thumbnail_key for i in images)
    assert len(media_files(app)) == 4  # two originals, two thumbnails
    assert temp_files(app) == []


def test_a_reupload_in_a_later_request_is_a_duplicate(db: Session, setup) -> None:
    project, client, _app = setup
    first = upload(client, project.id, ("one.jpg", files.jpeg(), "image/jpeg")).json()["results"][0]
    again = upload(client, project.id, ("renamed.jpg", files.jpeg(), "image/jpeg")).json()["results"][0]
    assert again["status"] == "duplicate" and again["image_id"] == first["image_id"]
    assert count_images(db, project.id) == 1


@pytest.mark.parametrize(
    ("name", "body", "declared", "status"),
    [
        ("page.html", files.HTML, "text/html", 415),
        ("logo.svg", files.SVG, "image/svg+xml", 415),
        ("x.psd", files.PSD, "image/vnd.adobe.photoshop", 415),
        ("x.fits", files.FITS, "image/fits", 415),
        ("x.eps", files.EPS, "application/postscript", 415),
        ("empty.jpg", b"", "image/jpeg", 415),
        ("cut.jpg", files.jpeg(300, 200)[:700], "image/jpeg", 422),
        ("bomb.png", files.png_bomb(), "image/png", 413),
    ],
)
def test_a_refused_file_stores_nothing(db: Session, setup, name: str, body: bytes, declared: str, status: int) -> None:
    project, client, app = setup
    response = upload(client, project.id, (name, body, declared))
    assert response.status_code == status, response.text
    assert response.json()["results"][0]["status"] == "refused"
    assert count_images(db, project.id) == 0
    assert media_files(app) == [] and temp_files(app) == []


def test_polyglot_and_mislabelled_files_are_served_only_as_their_verified_image_type(db: Session, setup) -> None:
    """#1: PNG+HTML named x.html, and JPEG bytes declared text/html."""
    project, client, _app = setup
    body = upload(
        client,
        project.id,
        ("x.html", files.png_html_polyglot(), "text/html"),
        ("photo.html", files.jpeg(), "text/html"),
    ).json()
    assert [r["status"] for r in body["results"]] == ["stored", "stored"]
    for result, mime, ext in zip(body["results"], ("image/png", "image/jpeg"), ("png", "jpg"), strict=True):
        image = db.get(Image, result["image_id"])
        assert image.storage_key.endswith(f"/{image.sha256}.{ext}") and "html" not in image.storage_key
        served = client.get(f"/projects/{project.id}/images/{image.id}/file")
        assert served.status_code == 200
        assert served.headers["content-type"] == mime
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'; sandbox" in served.headers.get_list("content-security-policy")
        assert served.headers["cache-control"].startswith("private")
        assert served.headers["content-disposition"].startswith('inline; filename="image-')
        thumb = client.get(f"/projects/{project.id}/images/{image.id}/thumb")
        assert thumb.headers["content-type"] == "image/jpeg" and thumb.content.startswith(b"\xff\xd8")


def test_the_original_is_served_byte_identical_with_an_etag(db: Session, setup) -> None:
    project, client, _app = setup
    data = files.png_html_polyglot()
    image_id = upload(client, project.id, ("x.png", data, "image/png")).json()["results"][0]["image_id"]
    served = client.get(f"/projects/{project.id}/images/{image_id}/file")
    assert served.content == data
    again = client.get(
        f"/projects/{project.id}/images/{image_id}/file", headers={"If-None-Match": served.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "name",
    [
        "../../x.png",
        "..\\x.png",
        "/abs/x.png",
        "a\x00b.png",
        "x" * 300 + ".png",
        "\u202egnp.exe",
        "CON",
        "<script>alert(1)</script>.png",
    ],
)
def test_hostile_file_names_never_reach_the_filesystem(db: Session, setup, name: str) -> None:
    """#7: stored under our own key inside the media root; the name is escaped and encoded on the way out."""
    project, client, app = setup
    result = upload(client, project.id, (name, image_bytes(colour=(len(name) % 250, 9, 9)), "image/png")).json()
    image = db.get(Image, result["results"][0]["image_id"])
    root = app.state.settings.media_dir.resolve()
    assert all(p.resolve().is_relative_to(root) for p in media_files(app))
    assert image.storage_key == f"images/p{project.id}/{image.sha256[:2]}/{image.sha256}.png"
    assert "/" not in image.file_name and "\\" not in image.file_name and "\x00" not in image.file_name
    assert len(image.file_name) <= 255 and "\u202e" not in image.file_name
    served = client.get(f"/projects/{project.id}/images/{image.id}/file?download=true")
    disposition = served.headers["content-disposition"]
    assert disposition.startswith(f"attachment; filename=\"image-{image.id}.png\"; filename*=UTF-8''")
    assert all(ord(c) < 128 and c not in '"\r\n' for c in disposition.split("filename*=", 1)[1])
    page = client.get(f"/projects/{project.id}/upload")
    assert "<script>alert(1)</script>" not in page.text


def test_too_many_files_or_past_the_quota_stores_nothing(db: Session, setup) -> None:
    """#8: the limits are 5 files a request and 8 images a project (tests/images/conftest.py)."""
    project, client, app = setup
    six = [(f"f{i}.png", image_bytes(colour=(i, 1, 1)), "image/png") for i in range(6)]
    response = upload(client, project.id, *six)
    assert response.status_code == 413 and "limit is 5" in response.json()["message"]
    assert count_images(db, project.id) == 0
    assert upload(client, project.id, *six[:5]).status_code == 200
    response = upload(
        client, project.id, *[(f"g{i}.png", image_bytes(colour=(i, 2, 2)), "image/png") for i in range(4)]
    )
    assert response.status_code == 413 and "quota" in response.json()["message"]
    assert count_images(db, project.id) == 5
    assert len(media_files(app)) == 10


def test_a_file_over_the_byte_limit_is_refused_and_its_temporary_copy_removed(db: Session, setup) -> None:
    project, client, app = setup
    big = files.encoded("BMP", "RGB", (400, 200))  # 240 KB > the 200 KB limit
    response = upload(client, project.id, ("big.bmp", big, "image/bmp"))
    assert response.status_code == 413 and response.json()["results"][0]["reason"].startswith("the file is larger")
    assert count_images(db, project.id) == 0 and media_files(app) == [] and temp_files(app) == []


def test_a_chunked_body_over_the_request_limit_is_cut_off_early(db: Session, setup) -> None:
    """#5: no Content-Length; the body limit (1 MB here) answers 413 (app.core.limits stops reading)."""
    project, client, app = setup

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n"
        for _ in range(400):
            yield b"\0" * 65536
        yield b"\r\n--b--\r\n"

    response = client.post(
        f"/api/v1/projects/{project.id}/images",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert count_images(db, project.id) == 0 and temp_files(app) == []


@pytest.mark.parametrize("attack", ["parts", "big_field", "urlencoded"])
def test_multipart_abuse_gets_a_fast_4xx_and_the_server_stays_up(db: Session, client_for: Client, attack: str) -> None:
    """#6 (default limits): 10k parts, a 100 MB non-file field (stopped by the 256 MB body limit only after
    64 KB: the field limit), 100k urlencoded fields."""
    project = make_project(db)
    client = client_for(make_member(db, project, Role.admin, password=None))
    url = f"/api/v1/projects/{project.id}/images"
    if attack == "parts":
        body = b"".join(b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(10_000))
        response = client.post(
            url, content=body + b"--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
    elif attack == "big_field":

        def chunks():
            yield b'--b\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'
            for _ in range(1600):
                yield b"a" * 65536
            yield b"\r\n--b--\r\n"

        response = client.post(url, content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    else:
        response = client.post(
            url,
            content="&".join(f"k{i}=v" for i in range(100_000)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code in (400, 413, 422)
    assert count_images(db, project.id) == 0
    assert client.get("/healthz").status_code == 200


def test_inspectors_cannot_upload_and_strangers_cannot_see_media(db: Session, client_for: Client, setup) -> None:
    """#21: media only through the authorizing route; another project's id is 404; no session is 401."""
    project, admin_client, app = setup
    image_id = upload(admin_client, project.id, ("a.png", image_bytes(), "image/png")).json()["results"][0]["image_id"]
    inspector = make_member(db, project, Role.inspector, password=None)
    assert (
        upload(client_for(inspector), project.id, ("b.png", image_bytes(colour=(5, 5, 5)), "image/png")).status_code
        == 403
    )
    other = make_project(db)
    stranger = make_member(db, other, Role.admin, password=None)
    assert client_for(stranger).get(f"/projects/{project.id}/images/{image_id}/file").status_code == 404
    assert client_for(stranger).get(f"/projects/{other.id}/images/{image_id}/file").status_code == 404
    anonymous = TestClient(app, base_url="http://testserver")
    response = anonymous.get(f"/projects/{project.id}/images/{image_id}/file", headers={"Accept": "application/json"})
    assert response.status_code == 401
    for path in (
        f"/projects/{project.id}/images/..%2f..%2fsecret_key/file",
        "/static/..%2f..%2fvar/secret_key",
        f"/projects/{project.id}/images/{image_id}%2f..%2f..%2fsecret_key/file",
    ):
        assert admin_client.get(path).status_code in (404, 422)


def test_the_plain_form_post_works_without_javascript(db: Session, setup) -> None:
    project, client, _app = setup
    response = client.post(
        f"/projects/{project.id}/upload",
        files=[
            ("files", ("plain.png", image_bytes(colour=(7, 7, 7)), "image/png")),
            ("files", ("bad.svg", files.SVG, "image/svg+xml")),
        ],
        data={"line": "L3", "shift": "night", "batch_name": "night shift"},
    )
    assert response.status_code == 200
    assert "1 stored" in response.text and "not a JPEG, PNG, BMP, TIFF or WebP image" in response.text
    image = db.scalar(select(Image).where(Image.project_id == project.id))
    assert image.meta == {"line": "L3", "shift": "night"}
    assert db.get(UploadBatch, image.batch_id).name == "night shift"
