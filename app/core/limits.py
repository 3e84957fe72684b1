"""Request body limits enforced while the body streams in (also for chunked uploads)."""
from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Answers 413 as soon as a request body exceeds its limit, before it is all read: `max_bytes`
    for multipart bodies (uploads), `max_plain_bytes` (default: the same) for any other body, which
    the framework parses whole in memory (JSON, urlencoded)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_plain_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_plain_bytes = min(max_bytes, max_plain_bytes or max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_bytes if multipart else self.max_plain_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
        seen = 0
        rejected = False

        async def counting_receive() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and tell the app the client left; whatever it answers is dropped.
                    rejected = True
                    await _reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _reject(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {"error": "Too large", "message": f"request body is larger than the limit of {max_bytes} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
