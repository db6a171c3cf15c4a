from typing import Any

import orjson
import pytest

from streams.campaigns import CAMPAIGN_COLUMNS, CampaignUpdate, parse_campaign_update
from streams.events import InvalidEvent

# 2024-01-01T00:00:00Z is 19723 days after the epoch: 19723 * 86400 = 1_704_067_200 seconds.
NEW_YEAR_2024_MS = 1_704_067_200_000
DAY_MS = 86_400_000


def update_bytes(**fields: Any) -> bytes:
    """Build a valid campaign update value. Keyword arguments replace or add fields."""
    data: dict[str, Any] = {
        "workspace_id": "ws-1",
        "campaign_id": "cmp-1",
        "name": "Spring sale",
        "status": "active",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z",
    }
    data.update(fields)
    return orjson.dumps(data)


def reject_reason(value: bytes | None) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_campaign_update(value)
    return caught.value.reason


def test_update_fields():
    update = parse_campaign_update(update_bytes())

    assert update == CampaignUpdate(
        workspace_id="ws-1",
        campaign_id="cmp-1",
        name="Spring sale",
        status="active",
        created_at_ms=NEW_YEAR_2024_MS,
        updated_at_ms=NEW_YEAR_2024_MS + DAY_MS,
    )


def test_update_row_matches_columns():
    row = parse_campaign_update(update_bytes()).row()

    assert dict(zip(CAMPAIGN_COLUMNS, row, strict=True)) == {
        "workspace_id": "ws-1",
        "campaign_id": "cmp-1",
        "name": "Spring sale",
        "status": "active",
        "created_at": NEW_YEAR_2024_MS,
        "updated_at": NEW_YEAR_2024_MS + DAY_MS,
    }


def test_update_times_offset_and_epoch():
    # 02:00 at +02:00 is midnight UTC, and 1704153600 s is one day after NEW_YEAR_2024_MS.
    value = update_bytes(created_at="2024-01-01T02:00:00+02:00", updated_at=1_704_153_600)

    update = parse_campaign_update(value)

    assert update.created_at_ms == NEW_YEAR_2024_MS
    assert update.updated_at_ms == NEW_YEAR_2024_MS + DAY_MS


def test_update_created_defaults_to_updated():
    data = orjson.loads(update_bytes())
    del data["created_at"]

    update = parse_campaign_update(orjson.dumps(data))

    assert update.created_at_ms == NEW_YEAR_2024_MS + DAY_MS


def test_update_without_times():
    value = orjson.dumps({"workspace_id": "ws-1", "campaign_id": "cmp-1", "name": "A"})

    update = parse_campaign_update(value)

    assert update.updated_at_ms == 0
    assert update.created_at_ms == 0
    assert update.status == ""


def test_update_ignores_unknown_fields():
    with_extras = parse_campaign_update(update_bytes(owner="ana", tags=["x"]))

    assert with_extras == parse_campaign_update(update_bytes())


@pytest.mark.parametrize("value", [None, b""])
def test_update_null_value(value: bytes | None):
    assert reject_reason(value) == "null_value"


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe", b'{"name": "A"'])
def test_update_invalid_json(value: bytes):
    assert reject_reason(value) == "invalid_json"


@pytest.mark.parametrize("value", [b"[]", b'"campaign"', b"42", b"null"])
def test_update_not_an_object(value: bytes):
    assert reject_reason(value) == "not_an_object"


@pytest.mark.parametrize("field", ["workspace_id", "campaign_id", "name"])
def test_update_missing_field(field: str):
    data = orjson.loads(update_bytes())
    del data[field]

    with pytest.raises(InvalidEvent) as caught:
        parse_campaign_update(orjson.dumps(data))

    assert caught.value.reason == "missing_field"
    assert field in caught.value.message


@pytest.mark.parametrize("field", ["workspace_id", "campaign_id", "name"])
@pytest.mark.parametrize("value", ["", None])
def test_update_required_text_empty(field: str, value: Any):
    assert reject_reason(update_bytes(**{field: value})) == "missing_field"


@pytest.mark.parametrize("field", ["workspace_id", "campaign_id", "name"])
@pytest.mark.parametrize("value", [5, ["x"]])
def test_update_required_text_wrong_type(field: str, value: Any):
    assert reject_reason(update_bytes(**{field: value})) == "invalid_field"


@pytest.mark.parametrize("status", [5, ["active"], {"state": "active"}])
def test_update_status_wrong_type(status: Any):
    assert reject_reason(update_bytes(status=status)) == "invalid_field"


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize("value", ["next week", -1, [1], True])
def test_update_invalid_time(field: str, value: Any):
    with pytest.raises(InvalidEvent) as caught:
        parse_campaign_update(update_bytes(**{field: value}))

    assert caught.value.reason == "invalid_time"
    assert field in caught.value.message
