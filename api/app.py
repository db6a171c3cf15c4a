"""The Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from api import routes
from api.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected
from app.clickhouse import ClickHouse
from app.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings, clickhouse: ClickHouse, api_keys: dict[str, str]) -> Starlette:
    """Build the API around already-open services; the caller owns their lifecycle."""
    workspace = API_PREFIX + "/workspaces/{workspace_id}/analytics"
    app = Starlette(
        routes=[
            Route(workspace + "/compare", routes.compare, methods=["POST"]),
            Route(API_PREFIX + "/openapi.json", routes.openapi, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.settings = settings
    app.state.clickhouse = clickhouse
    app.state.api_keys = api_keys
    return app
