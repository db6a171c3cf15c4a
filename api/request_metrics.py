"""ASGI middleware that counts HTTP requests and times them, by route template and status.

Routes are labelled by their template (``/api/v1/workspaces/{workspace_id}/...``),
never by the raw path, so workspace ids and unknown paths cannot grow the
number of time series. A path that matches no route is labelled ``unmatched``.
"""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import HTTP_DURATION, HTTP_REQUESTS

UNMATCHED_ROUTE = "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        route = _route_template(scope)
        status = 500  # stays 500 when the app fails before starting a response
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # Starlette sets scope["app"] before running the middleware stack; a
    # PARTIAL match is a known path with another method (405).
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return getattr(route, "path", UNMATCHED_ROUTE)
    return UNMATCHED_ROUTE
