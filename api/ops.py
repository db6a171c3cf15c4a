"""Operator endpoints: ``/readyz``, ``/metrics`` and ``GET /api/v1/ops/lag``.

The API serves them next to its routes; a worker serves ``/healthz``,
``/readyz`` and ``/metrics`` from :func:`create_ops_app` on its own port. The
services come from ``app.state.ops`` (an ``app.operations.Operations``); an
app built without them (as in unit tests) reports itself not ready.

``/api/v1/ops/lag`` takes an operator key from OPERATOR_API_KEYS, never a
workspace key: lag covers every workspace's events.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import ApiError, envelope
from api.request_metrics import RequestMetricsMiddleware
from app import metrics

if TYPE_CHECKING:
    from app.operations import Operations

logger = logging.getLogger(__name__)

LAG_TIMEOUT_SECONDS = 5.0


def _operations(request: Request) -> Operations | None:
    return getattr(request.app.state, "ops", None)


def current_lag(request: Request) -> dict[str, Any] | None:
    """Return the last measured lag of the events topic for compare responses, or None when unknown."""
    operations = _operations(request)
    return operations.lag.freshness() if operations is not None else None


async def healthz(request: Request) -> JSONResponse:
    """Return 200 while the process runs; it checks no dependency."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Return 200 when every readiness check passes, else 503 with the failing checks."""
    operations = _operations(request)
    if operations is None:
        return JSONResponse({"status": "not_ready", "checks": {}}, status_code=503)
    results = await operations.health.readiness()
    ready = all(result.ok for result in results)
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {result.name: {"ok": result.ok, "detail": result.detail} for result in results},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics_endpoint(request: Request) -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)


async def lag(request: Request) -> JSONResponse:
    """Measure the consumer lag now and return it per group, topic and partition."""
    authorize_operator(request)
    operations = _operations(request)
    if operations is None:
        raise ApiError(503, "SERVICE_UNAVAILABLE", "lag monitoring is not running in this process")
    try:
        snapshot = await operations.lag.measure(timeout=LAG_TIMEOUT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.warning("lag request failed: servers=%s error=%r", operations.settings.bootstrap_servers, exc)
        raise ApiError(
            503, "SERVICE_UNAVAILABLE", f"Kafka did not respond within {LAG_TIMEOUT_SECONDS:.0f} s; try again later"
        ) from None
    return envelope(snapshot.as_dict())


def authorize_operator(request: Request) -> None:
    """Raise unless the request carries one of the OPERATOR_API_KEYS.

    No header or an unknown key gets 401; a workspace key gets 403, because it
    is a valid key without the right to see every workspace's stream.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "UNAUTHORIZED", "missing operator key: send the header 'Authorization: Bearer <key>'")

    operator_keys: list[str] = request.app.state.settings.operator_keys()
    if not operator_keys:
        raise ApiError(401, "UNAUTHORIZED", "no operator key is configured: set OPERATOR_API_KEYS to use this endpoint")
    # compare_digest keeps the comparison time independent of where keys differ.
    if any(hmac.compare_digest(key.encode(), token.encode()) for key in operator_keys):
        return
    workspace_keys: dict[str, str] = getattr(request.app.state, "api_keys", {})
    if any(hmac.compare_digest(key.encode(), token.encode()) for key in workspace_keys):
        raise ApiError(403, "FORBIDDEN", "this endpoint needs an operator key from OPERATOR_API_KEYS, not a workspace key")
    raise ApiError(401, "UNAUTHORIZED", "invalid operator key")


def routes(api_prefix: str) -> list[Route]:
    """Return the operator routes of the API app (``/healthz`` is the API's own)."""
    return [
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(api_prefix + "/ops/lag", lag, methods=["GET"]),
    ]


def create_ops_app(operations: Operations) -> Starlette:
    """Build the worker's HTTP app: ``/healthz``, ``/readyz`` and ``/metrics`` only."""
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=[Middleware(RequestMetricsMiddleware)],
    )
    app.state.ops = operations
    app.state.settings = operations.settings
    return app
