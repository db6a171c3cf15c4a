"""Bearer API keys. A key belongs to one workspace and reads nothing of any other."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from api.errors import ApiError


def authorize(request: Request, workspace_id: str) -> None:
    """Raise unless the request carries a key of ``workspace_id``.

    A valid key of another workspace gets 404, the same response as a
    workspace that does not exist, so a key cannot probe which workspaces exist.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "UNAUTHORIZED", "missing API key: send the header 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "UNAUTHORIZED", "the Authorization header must be 'Bearer <key>'")

    keys: dict[str, str] = request.app.state.api_keys
    owner = None
    for key, key_workspace in keys.items():
        # compare_digest keeps the comparison time independent of where keys differ.
        if hmac.compare_digest(key.encode(), token.strip().encode()):
            owner = key_workspace
    if owner is None:
        raise ApiError(401, "UNAUTHORIZED", "invalid API key")
    if owner != workspace_id:
        raise ApiError(404, "WORKSPACE_NOT_FOUND", f"workspace {workspace_id!r} not found for this API key")
