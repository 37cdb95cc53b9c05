"""Plain ASGI middleware (Starlette's BaseHTTPMiddleware breaks context variables).

``BodyLimit`` refuses bodies over the configured size with 413, whether or not Content-Length is sent.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.fhir.errors import Issue, PayloadTooLarge, operation_outcome
from gateway.fhir.schemas import dumps


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self._text())
            return message

        await self.app(scope, limited, send)

    def _text(self) -> str:
        return f"the request body is larger than the {self.max_bytes} bytes this server accepts"

    async def _refuse(self, send: Send) -> None:
        body = dumps(operation_outcome([Issue(self._text(), code="too-costly")]))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/fhir+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
