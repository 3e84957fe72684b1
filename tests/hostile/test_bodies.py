"""Hostile request bodies (reliability #5, #6): many parts, huge fields and headers, endless chunked
bodies, huge JSON. Each gets a fast 4xx with bounded memory, stores nothing, and the server stays up.
Bodies are generators, so the test client never holds them whole (memory measured is the server's)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.hostile.conftest import Scene

MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
JSON = {"Content-Type": "application/json"}
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


def repeated(head: bytes, chunk: bytes, times: int, tail: bytes = b"") -> Iterator[bytes]:
    yield head
    for _ in range(times):
        yield chunk
    yield tail


def part(name: str, value: bytes, file_name: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{file_name}"' if file_name else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def many_parts() -> Iterator[bytes]:
    yield b"".join(part(f"f{i}", b"x") for i in range(10_000)) + b"--b--\r\n"


def many_files() -> Iterator[bytes]:
    yield b"".join(part("files", b"\x89PNG", f"{i}.png") for i in range(1_500)) + b"--b--\r\n"


def huge_field() -> Iterator[bytes]:  # 100 MB in a non-file field
    return repeated(b'--b\r\nContent-Disposition: form-data; name="meta"\r\n\r\n', b"a" * 2**16, 1600, b"\r\n--b--\r\n")


def huge_part_header() -> Iterator[bytes]:  # a 4 MB header line inside one part
    return repeated(b'--b\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\nX-Pad: ', b"p" * 2**16,
                    64, b"\r\n\r\nxx\r\n--b--\r\n")


def endless_file() -> Iterator[bytes]:  # chunked, no Content-Length: 300 MB, over the 256 MB body limit
    return repeated(b'--b\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n\r\n', b"\0" * 2**20,
                    300, b"\r\n--b--\r\n")


def huge_json_array() -> Iterator[bytes]:  # 64 MB of [1,1,1,...]: ~500 MB of Python ints if it were parsed
    return repeated(b"[", b"1," * 2**15, 1024, b"1]")


def huge_json_string() -> Iterator[bytes]:  # one 100 MB string
    return repeated(b'{"name": "', b"n" * 2**16, 1600, b'"}')


def deep_json() -> Iterator[bytes]:
    yield b"[" * 100_000 + b"]" * 100_000


def huge_urlencoded() -> Iterator[bytes]:
    yield "&".join(f"k{i}=v" for i in range(100_000)).encode()


def huge_urlencoded_value() -> Iterator[bytes]:
    return repeated(b"batch_name=", b"v" * 2**16, 1600)


# (case, who, path under the project's API (or a site path), headers, body, allowed statuses)
CASES: list[tuple[str, str, str, dict[str, str], Callable[[], Any], set[int]]] = [
    ("multipart-10k-parts", "admin", "api:/images", MULTIPART, many_parts, {400, 413}),
    ("multipart-1500-files", "admin", "api:/images", MULTIPART, many_files, {400, 413}),
    ("multipart-100MB-field", "admin", "api:/images", MULTIPART, huge_field, {400, 413, 422}),
    ("multipart-4MB-part-header", "admin", "api:/images", MULTIPART, huge_part_header, {400, 413}),
    ("multipart-300MB-chunked", "admin", "api:/images", MULTIPART, endless_file, {413}),
    ("multipart-no-boundary", "admin", "api:/images", {"Content-Type": "multipart/form-data"},
     lambda: iter([part("files", b"x", "x.png")]), {400, 422}),
    ("multipart-unterminated", "admin", "api:/images", MULTIPART,
     lambda: iter([b'--b\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n\r\n\x89PNG']),
     {400, 422}),
    ("upload-page-100MB-field", "admin", "page:/upload", MULTIPART, huge_field, {400, 413, 422}),
    ("urlencoded-100k-fields", "admin", "page:/upload", URLENCODED, huge_urlencoded, {400, 413, 422}),
    ("urlencoded-100MB-value", "admin", "page:/upload", URLENCODED, huge_urlencoded_value, {400, 413, 422}),
    ("login-100MB-urlencoded", "anonymous", "site:/login", URLENCODED, huge_urlencoded_value, {400, 413}),
    ("json-64MB-array", "admin", "api:/datasets", JSON, huge_json_array, {413}),
    ("json-100MB-string", "admin", "api:/datasets", JSON, huge_json_string, {413}),
    ("json-64MB-array-anonymous", "anonymous", "api:/datasets", JSON, huge_json_array, {401, 413}),
    ("json-nested-100k-deep", "admin", "api:/datasets", JSON, deep_json, {400, 413, 422}),
    ("json-64MB-annotation", "inspector", "api:/assignments/{assignment}/annotation", JSON, huge_json_array,
     {413, 422}),
]


def url_of(scene: Scene, where: str) -> str:
    kind, path = where.split(":", 1)
    path = path.replace("{assignment}", str(scene.assignment.id))
    return {"api": scene.api(path), "page": f"/projects/{scene.project.id}{path}", "site": path}[kind]


@pytest.mark.parametrize(("who", "where", "headers", "body", "allowed"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_hostile_body_gets_a_fast_4xx_and_stores_nothing(scene: Scene, who: str, where: str,
                                                          headers: dict[str, str], body: Callable[[], Any],
                                                          allowed: set[int]) -> None:
    before = scene.stored()
    answer = scene.stream(who, url_of(scene, where), body(), headers)
    assert answer.status in allowed, (answer.status, answer.body[:300])
    scene.assert_nothing_stored(before)
    assert answer.peak_traced_mb < 50, f"the app held {answer.peak_traced_mb:.0f} MB at its peak"
    assert scene.anonymous().get("/healthz").status_code == 200
