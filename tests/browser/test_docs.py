"""The API explorer renders in Chromium with nothing fetched from outside the server (finding 7)."""
from __future__ import annotations

from urllib.parse import urlsplit

from tests.support.live_server import LiveServer


def test_the_explorer_renders_the_api_from_local_files_only(page, server: LiveServer) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs")
    page.locator(".swagger-ui .info .title", has_text="Concord").wait_for(timeout=30_000)  # a loaded machine is slow
    assert page.locator(".opblock-tag").count() > 3  # the API's sections
    ours = urlsplit(server.base_url).netloc
    outside = [url for url in requested if urlsplit(url).netloc not in (ours, "") and not url.startswith("data:")]
    assert outside == [], outside
