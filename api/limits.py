"""Request body limits, enforced before a handler reads the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem


def limit_message(limit_bytes: int) -> str:
    return (
        f"the request body is over the limit of {limit_bytes / 1_000_000:g} MB; split it or "
        "raise VOC_API_UPLOAD_LIMIT_MB."
    )


class BodyLimitMiddleware:
    """Refuses a declared Content-Length over the limit with 413; a body streamed without one
    is counted by the handler that reads it (uploads)."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit():
                    if int(value) > self.limit_bytes:
                        response = problem(
                            413, "payload_too_large", limit_message(self.limit_bytes), scope["path"]
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
