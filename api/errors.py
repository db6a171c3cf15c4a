"""The error envelope: ``{"success": false, "error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.errors import CampaignAnalyticsError

logger = logging.getLogger(__name__)


class ApiError(CampaignAnalyticsError):
    """An error returned to the client with its HTTP status, code and message."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def validation_error(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


def envelope(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status_code)


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"success": False, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, headers)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("request failed: %s %s", request.method, request.url.path)
    return error_response(500, "INTERNAL_ERROR", "the server failed to answer this request; see its log")
