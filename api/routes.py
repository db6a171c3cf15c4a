"""Route handlers of the analytics API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from analytics.compare import CampaignNotFound, compare_campaigns
from api.auth import authorize
from api.errors import ApiError, envelope
from api.openapi import OPENAPI_DOCUMENT
from api.ops import current_lag
from api.validation import parse_compare_request, read_json_object


async def compare(request: Request) -> JSONResponse:
    workspace_id = request.path_params["workspace_id"]
    authorize(request, workspace_id)
    compare_request = parse_compare_request(workspace_id, await read_json_object(request))

    state = request.app.state
    try:
        data = await state.clickhouse.run(
            compare_campaigns,
            state.clickhouse,
            compare_request,
            state.settings.bot_click_window_seconds,
            current_lag(request),
        )
    except CampaignNotFound as exc:
        raise ApiError(404, "CAMPAIGN_NOT_FOUND", str(exc)) from None
    return envelope(data)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI_DOCUMENT)
