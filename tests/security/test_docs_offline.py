"""/docs loads nothing from outside: its files come from the installed swagger-ui-bundle-v2 package and the
CSP names no other origin (finding 7; plants have no internet, and a CDN script without integrity is a
supply-chain risk on a page that holds an API token)."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient
from swagger_ui_bundle import swagger_ui_path


def test_the_explorer_page_and_its_csp_name_no_other_origin(anon: TestClient) -> None:
    page = anon.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "http" not in csp and "*" not in csp, csp
    assert "script-src 'self'" in csp and "unsafe" not in csp
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    for ref in references:
        served = anon.get(ref)
        assert served.status_code == 200, ref
        if ref.startswith("/docs/assets/"):
            assert served.content == (swagger_ui_path / ref.rsplit("/", 1)[1]).read_bytes()


def test_only_the_explorers_own_files_are_served(anon: TestClient) -> None:
    for name in ("index.html", "oauth2-redirect.html", "..%2F__init__.py", "swagger-initializer.js", "x.css"):
        assert anon.get(f"/docs/assets/{name}").status_code == 404, name
    assert anon.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
