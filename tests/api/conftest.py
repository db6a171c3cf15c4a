"""One app for the API tests, on the session's chDB database (``tests/conftest.py``).

Each test takes its own workspace, which keeps the tests' campaigns apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from api.app import create_app
from app.clickhouse import ClickHouse
from app.settings import Settings, load_settings
from tests.api.helpers import API_KEYS, WORKSPACE_COUNT, TestClient, workspace_id

_workspace_numbers = itertools.count()


def _next_workspace() -> str:
    number = next(_workspace_numbers)
    assert number < WORKSPACE_COUNT, "raise WORKSPACE_COUNT: more workspaces requested than have keys"
    return workspace_id(number)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The default settings, unaffected by the environment or a ``.env`` in the working directory."""
    with pytest.MonkeyPatch.context() as patch:
        for name in Settings.model_fields:
            patch.delenv(name.upper(), raising=False)
            patch.delenv(name, raising=False)
        patch.chdir(tmp_path_factory.mktemp("settings"))
        return load_settings()


@pytest.fixture(scope="session")
def app(settings: Settings, clickhouse: ClickHouse) -> Starlette:
    return create_app(settings, clickhouse, API_KEYS)


@pytest.fixture(scope="session")
def client(app: Starlette) -> Iterator[TestClient]:
    # Unexpected errors become 500 responses, as a client would see them, instead of re-raising here.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def workspace() -> str:
    """A workspace id with an API key that no other test of this session uses."""
    return _next_workspace()


@pytest.fixture
def other_workspace() -> str:
    """A second unused workspace id with its own API key."""
    return _next_workspace()
