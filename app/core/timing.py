"""`Server-Timing: app;dur=<ms>` on every response: the time the app spent on the request, from the
ASGI call to the start of the response (routing, auth, database, commit included; the HTTP parsing of
the server and the network excluded). Benchmarks read it to tell server time from client time."""
from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = 1000 * (time.perf_counter() - started)
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={ms:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, timed_send)
