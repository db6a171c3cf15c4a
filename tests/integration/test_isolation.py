"""Workspaces never mix, and campaign names arrive through ``campaign-updates``."""

from __future__ import annotations

import pytest

from tests.integration.conftest import next_workspace, workspace_key
from tests.integration.helpers import at, event, summary_of

pytestmark = pytest.mark.integration


@pytest.fixture
def other_workspace(workspace: str) -> str:
    return next_workspace()


async def test_same_campaign_id_in_two_workspaces(pipeline, workspace, other_workspace):
    first, second = workspace, other_workspace
    events = [event(first, "shared", f"{first}-m{i}", "delivered", at()) for i in range(3)]
    events += [event(first, "only-first", f"{first}-x", "delivered", at())]
    events += [event(second, "shared", f"{second}-m0", "delivered", at())]
    events += [event(second, "only-second", f"{second}-y", "opened", at(minutes=5))]
    await pipeline.produce(events)
    await pipeline.wait_consumed()

    first_data = pipeline.compare(first, ["shared", "only-first"])
    second_data = pipeline.compare(second, ["shared", "only-second"])
    # Three deliveries of "shared" belong to the first workspace, one to the second.
    assert summary_of(first_data, "shared")["emails_delivered"] == 3
    assert summary_of(second_data, "shared")["emails_delivered"] == 1


async def test_key_of_other_workspace_is_rejected(pipeline, workspace, other_workspace):
    await pipeline.produce([event(workspace, "a", f"{workspace}-m", "sent", at()),
                            event(workspace, "b", f"{workspace}-n", "sent", at())])
    await pipeline.wait_consumed()
    body = {"campaign_ids": ["a", "b"]}

    foreign = pipeline.post("compare", workspace, body, key=workspace_key(other_workspace))
    assert foreign.status_code == 404
    assert foreign.json()["success"] is False
    assert foreign.json()["error"]["code"] == "WORKSPACE_NOT_FOUND"

    missing = pipeline.post("compare", workspace, body, key="")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "UNAUTHORIZED"

    # With its own key, the other workspace has no campaign "a".
    own = pipeline.post("compare", other_workspace, body)
    assert own.status_code == 404
    assert own.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"


async def test_campaign_names_from_updates(pipeline, workspace):
    ws = workspace
    updates = [
        {"workspace_id": ws, "campaign_id": "spring", "name": "Spring draft", "status": "draft",
         "created_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-01T00:00:00Z"},
        {"workspace_id": ws, "campaign_id": "spring", "name": "Spring sale", "status": "sent",
         "created_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-02T00:00:00Z"},
        {"workspace_id": ws, "campaign_id": "autumn", "name": "Autumn sale", "status": "sent",
         "created_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-01T00:00:00Z"},
        b"not a campaign",
    ]
    await pipeline.produce(updates, topic="campaign-updates")
    await pipeline.wait_campaigns()

    data = pipeline.compare(ws, ["spring", "autumn"])
    names = {entry["campaign_id"]: entry["campaign_name"] for entry in data["comparison"]}
    # The newer update of "spring" wins; a campaign with no events yet is known and empty.
    assert names == {"spring": "Spring sale", "autumn": "Autumn sale"}
    assert summary_of(data, "spring")["emails_sent"] == 0
