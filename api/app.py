"""The Starlette application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from api import exports, ops, routes
from api.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected
from api.request_metrics import RequestMetricsMiddleware
from app.clickhouse import ClickHouse
from app.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from app.operations import Operations
    from app.storage import ExportStorage

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    clickhouse: ClickHouse,
    api_keys: dict[str, str],
    *,
    operations: Operations | None = None,
    producer: AIOKafkaProducer | None = None,
    export_storage: ExportStorage | None = None,
) -> Starlette:
    """Build the API around already-open services; the caller owns their lifecycle.

    Without ``producer`` an export POST returns 503; without ``export_storage``
    the storage EXPORT_STORAGE_URL names is opened on first use.
    """
    workspace = API_PREFIX + "/workspaces/{workspace_id}/analytics"
    app = Starlette(
        routes=[
            Route(workspace + "/compare", routes.compare, methods=["POST"]),
            Route(workspace + "/export", exports.create_export, methods=["POST"]),
            Route(workspace + "/exports/{export_id}", exports.get_export, methods=["GET"], name="get_export"),
            Route(API_PREFIX + "/export-files/{key:path}", exports.download_file, methods=["GET"]),
            Route(API_PREFIX + "/openapi.json", routes.openapi, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            *ops.routes(API_PREFIX),
        ],
        middleware=[Middleware(RequestMetricsMiddleware)],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.settings = settings
    app.state.clickhouse = clickhouse
    app.state.api_keys = api_keys
    app.state.ops = operations
    app.state.producer = producer
    app.state.export_storage = export_storage
    return app
