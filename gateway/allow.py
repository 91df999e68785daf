"""`Allow` on OPTIONS answers: every method of the path, not only those of the first handler registered.

Litestar builds a path's OPTIONS handler when the path's first controller registers and freezes that
controller's methods into it, so `/flags/{key}` (GET, PUT and DELETE from one controller, more from
others) answered `Allow: DELETE, OPTIONS`. The 405 answer is built from the full route table already;
this middleware gives OPTIONS the same list, read from the app's routes once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


@cache
def _methods_by_path(app: Litestar) -> dict[str, str]:
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            methods.setdefault(route.path_format, set()).update(route.methods)
    return {path: ", ".join(sorted(found)) for path, found in methods.items()}


def allow_header_middleware(app: ASGIApp) -> ASGIApp:
    """Rewrite `Allow` of OPTIONS responses from the app's full route table."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return
        allow = _methods_by_path(scope["litestar_app"]).get(str(scope.get("path_template", "")))

        async def send_with_allow(message: Message) -> None:
            if allow is not None and message["type"] == "http.response.start":
                headers: list[Any] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await app(scope, receive, send_with_allow)

    return middleware
