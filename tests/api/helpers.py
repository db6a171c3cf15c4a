"""API keys of the test workspaces and Starlette's TestClient, shared by the fixtures and the tests."""

from __future__ import annotations

from starlette.testclient import TestClient

__all__ = ["API_KEYS", "WORKSPACE_COUNT", "TestClient", "workspace_id", "workspace_key"]

WORKSPACE_COUNT = 200


def workspace_id(number: int) -> str:
    return f"ws-{number}"


def workspace_key(workspace: str) -> str:
    return f"key-{workspace}"


API_KEYS = {workspace_key(workspace_id(number)): workspace_id(number) for number in range(WORKSPACE_COUNT)}
