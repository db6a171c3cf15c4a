import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from scipy.stats import chi2_contingency, fisher_exact

from app.clickhouse import ClickHouse
from app.settings import Settings
from streams.campaigns import CAMPAIGN_COLUMNS, parse_campaign_update
from streams.events import EmailEvent, parse_canonical
from streams.ingest import classifier_from_settings
from streams.rows import COLUMN_NAMES, build_columns
from tests.api.helpers import TestClient, workspace_key

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
BASE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHROME_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
ALL_METRICS = [
    "delivery_rate",
    "bounce_rate",
    "open_rate",
    "click_rate",
    "click_to_open_rate",
    "reply_rate",
    "spam_rate",
    "unsubscribe_rate",
]
COMPARE_PATH = "/api/v1/workspaces/{workspace}/analytics/compare"
PRODUCT_URL = "https://shop.example/products/1"

Insert = Callable[[list[EmailEvent]], None]


def millis(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(
    workspace: str, campaign: str, message: str, event_type: str, minutes: float = 0, **fields: Any
) -> EmailEvent:
    """Build a canonical event that happened ``minutes`` after BASE."""
    data = {
        "event_id": f"{message}-{event_type}-{minutes}",
        "type": event_type,
        "occurred_at": millis(BASE + dt.timedelta(minutes=minutes)),
        "workspace_id": workspace,
        "campaign_id": campaign,
        "message_id": message,
        **fields,
    }
    return parse_canonical(data)


@pytest.fixture
def insert(clickhouse: ClickHouse, settings: Settings) -> Insert:
    """Write events to ``email_events`` the way the ingestor does."""
    classifier = classifier_from_settings(settings)

    def insert_events(events: list[EmailEvent]) -> None:
        clickhouse.insert_columns("email_events", build_columns(events, classifier), COLUMN_NAMES)

    return insert_events


def name_campaign(clickhouse: ClickHouse, workspace: str, campaign: str, name: str) -> None:
    message = {"workspace_id": workspace, "campaign_id": campaign, "name": name, "updated_at": millis(BASE)}
    update = parse_campaign_update(orjson.dumps(message))
    columns = [[field] for field in update.row()]
    clickhouse.insert_columns("campaigns", columns, CAMPAIGN_COLUMNS)


def post_compare(
    client: TestClient,
    workspace: str,
    body: Any = None,
    *,
    content: bytes | None = None,
    key: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or workspace_key(workspace)}"}
    url = COMPARE_PATH.format(workspace=workspace)
    if content is not None:
        return client.post(url, content=content, headers={**headers, "Content-Type": "application/json"})
    return client.post(url, json=body, headers=headers)


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Check the error envelope and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    return body["error"]["message"]


def validation_message(client: TestClient, workspace: str, body: Any) -> str:
    return error_of(post_compare(client, workspace, body), 400, "VALIDATION_ERROR")


def strict_json(text: str) -> Any:
    """Parse JSON, failing on NaN and Infinity, which standard JSON does not allow."""

    def reject(constant: str) -> None:
        raise AssertionError(f"the response contains {constant}")

    return json.loads(text, parse_constant=reject)


def entry(data: dict[str, Any], campaign: str) -> dict[str, Any]:
    matches = [item for item in data["comparison"] if item["campaign_id"] == campaign]
    assert len(matches) == 1, f"{campaign} appears {len(matches)} times in the comparison"
    return matches[0]


def significance(data: dict[str, Any], metric: str) -> dict[str, Any]:
    matches = [item for item in data["statistical_significance"] if item["metric"] == metric]
    assert len(matches) == 1, f"{metric} appears {len(matches)} times in statistical_significance"
    return matches[0]


# Authentication


def test_compare_without_authorization(client: TestClient, workspace: str):
    response = client.post(COMPARE_PATH.format(workspace=workspace), json={"campaign_ids": ["a", "b"]})

    error_of(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header", ["Basic a2V5OnZhbHVl", "Token key-ws-0", "key-ws-0", "Bearer", "Bearer    "]
)
def test_compare_wrong_scheme(client: TestClient, workspace: str, header: str):
    url = COMPARE_PATH.format(workspace=workspace)

    response = client.post(url, json={"campaign_ids": ["a", "b"]}, headers={"Authorization": header})

    message = error_of(response, 401, "UNAUTHORIZED")
    assert "Bearer" in message
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_compare_unknown_key(client: TestClient, workspace: str):
    response = post_compare(client, workspace, {"campaign_ids": ["a", "b"]}, key="key-nobody-has")

    error_of(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_compare_key_of_other_workspace(
    client: TestClient, insert: Insert, workspace: str, other_workspace: str
):
    insert([event(workspace, "c1", "m1", "delivered"), event(workspace, "c2", "m2", "delivered")])
    foreign_key = workspace_key(other_workspace)

    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"]}, key=foreign_key)

    message = error_of(response, 404, "WORKSPACE_NOT_FOUND")
    assert workspace in message
    # A workspace that does not exist gets the same status and code, so a key cannot probe for workspaces.
    missing = post_compare(client, "no-such-workspace", {"campaign_ids": ["c1", "c2"]}, key=foreign_key)
    error_of(missing, 404, "WORKSPACE_NOT_FOUND")


# Request validation


def test_body_not_json(client: TestClient, workspace: str):
    response = post_compare(client, workspace, content=b'{"campaign_ids": ["a", "b"]')

    assert "JSON" in error_of(response, 400, "VALIDATION_ERROR")


def test_body_empty(client: TestClient, workspace: str):
    response = post_compare(client, workspace, content=b"")

    assert "empty" in error_of(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("body", [["a", "b"], "campaigns", 42, None])
def test_body_not_object(client: TestClient, workspace: str, body: Any):
    response = post_compare(client, workspace, content=json.dumps(body).encode())

    assert "object" in error_of(response, 400, "VALIDATION_ERROR")


def test_campaign_ids_missing(client: TestClient, workspace: str):
    assert "campaign_ids" in validation_message(client, workspace, {"metrics": ["open_rate"]})


@pytest.mark.parametrize("campaign_ids", [[], ["only-one"], [f"c{i}" for i in range(21)]])
def test_campaign_ids_count(client: TestClient, workspace: str, campaign_ids: list[str]):
    assert "2 to 20" in validation_message(client, workspace, {"campaign_ids": campaign_ids})


def test_campaign_ids_duplicate(client: TestClient, workspace: str):
    message = validation_message(client, workspace, {"campaign_ids": ["c1", "c2", "c1"]})

    assert "c1" in message
    assert "more than once" in message


@pytest.mark.parametrize("bad_id", [5, None, ["c2"], {"id": "c2"}, "", "   ", True])
def test_campaign_ids_not_string(client: TestClient, workspace: str, bad_id: Any):
    assert "campaign_ids[1]" in validation_message(client, workspace, {"campaign_ids": ["c1", bad_id]})


def test_campaign_ids_not_list(client: TestClient, workspace: str):
    assert "list" in validation_message(client, workspace, {"campaign_ids": "c1,c2"})


def test_unknown_metric(client: TestClient, workspace: str):
    body = {"campaign_ids": ["c1", "c2"], "metrics": ["open_rate", "conversion_rate"]}

    message = validation_message(client, workspace, body)

    assert "conversion_rate" in message
    for metric in ALL_METRICS:
        assert metric in message


@pytest.mark.parametrize("metrics", [[], "open_rate", {"open_rate": True}])
def test_metrics_not_list(client: TestClient, workspace: str, metrics: Any):
    body = {"campaign_ids": ["c1", "c2"], "metrics": metrics}

    assert "metrics" in validation_message(client, workspace, body)


@pytest.mark.parametrize("bad_metric", [["open_rate"], {"name": "open_rate"}])
def test_metric_unhashable(client: TestClient, workspace: str, bad_metric: Any):
    message = validation_message(client, workspace, {"campaign_ids": ["c1", "c2"], "metrics": [bad_metric]})

    assert "metrics[0]" in message


def test_unknown_field(client: TestClient, workspace: str):
    message = validation_message(client, workspace, {"campaign_ids": ["c1", "c2"], "campaign": "c3"})

    assert "'campaign'" in message
    assert "campaign_ids" in message


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.05, "0.05", True, 1e-16])
def test_alpha_out_of_range(client: TestClient, workspace: str, alpha: Any):
    assert "alpha" in validation_message(client, workspace, {"campaign_ids": ["c1", "c2"], "alpha": alpha})


# Time ranges


@pytest.mark.parametrize(
    "time_range",
    [
        {"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T00:00:00Z"},
        {"start": "2026-03-03T00:00:00Z", "end": "2026-03-02T00:00:00Z"},
    ],
)
def test_start_not_before_end(client: TestClient, workspace: str, time_range: dict[str, str]):
    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"], "time_range": time_range})

    assert error_of(response, 400, "INVALID_TIME_RANGE") == "Start date must be before end date"


@pytest.mark.parametrize("time_range", ["7x", "0d", 7, {"start": "nope", "end": "2026-03-02T00:00:00Z"}])
def test_unreadable_time_range(client: TestClient, workspace: str, time_range: Any):
    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"], "time_range": time_range})

    assert "time_range" in error_of(response, 400, "INVALID_TIME_RANGE")


def test_unreadable_time_range_lists_forms(client: TestClient, workspace: str):
    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"], "time_range": "7x"})

    message = error_of(response, 400, "INVALID_TIME_RANGE")
    assert "'7x'" in message
    assert '"30d"' in message
    assert '"all"' in message


def test_time_range_too_long(client: TestClient, workspace: str):
    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"], "time_range": "999999d"})

    # A range clamped at 1970 (here 404, the campaigns do not exist) or INVALID_TIME_RANGE would both do.
    assert response.status_code < 500, response.text


# Campaigns


def test_campaign_not_found(client: TestClient, insert: Insert, workspace: str):
    insert([event(workspace, "c-known", "m1", "delivered")])

    response = post_compare(client, workspace, {"campaign_ids": ["c-known", "c-missing"]})

    message = error_of(response, 404, "CAMPAIGN_NOT_FOUND")
    assert "c-missing" in message
    assert workspace in message


def test_campaign_of_other_workspace(client: TestClient, insert: Insert, workspace: str):
    insert(
        [
            event(workspace, "c-mine", "m1", "delivered"),
            event(workspace + "-x", "c-theirs", "m2", "delivered"),
        ]
    )

    response = post_compare(client, workspace, {"campaign_ids": ["c-mine", "c-theirs"]})

    assert "c-theirs" in error_of(response, 404, "CAMPAIGN_NOT_FOUND")


# Successful comparisons


def test_compare_counts_and_shape(client: TestClient, clickhouse: ClickHouse, insert: Insert, workspace: str):
    insert(
        [
            # Campaign A: m1 human open and click, m2 machine open only, m3 hard bounce, m4 bot click only.
            event(workspace, "a", "m1", "sent", 0),
            event(workspace, "a", "m1", "delivered", 1),
            event(workspace, "a", "m1", "opened", 5, user_agent=CHROME_USER_AGENT),
            # The same open re-sent under a new event id is one event.
            event(workspace, "a", "m1", "opened", 5, user_agent=CHROME_USER_AGENT, event_id="resent-open"),
            event(workspace, "a", "m1", "clicked", 10, url=PRODUCT_URL, user_agent=CHROME_USER_AGENT),
            event(workspace, "a", "m2", "sent", 0),
            event(workspace, "a", "m2", "delivered", 1),
            event(workspace, "a", "m2", "opened", 3, user_agent="Mozilla/5.0"),
            event(workspace, "a", "m3", "sent", 0),
            event(workspace, "a", "m3", "bounced", 1, bounce_type="hard"),
            event(workspace, "a", "m4", "sent", 0),
            event(workspace, "a", "m4", "delivered", 1),
            event(workspace, "a", "m4", "clicked", 30, url="https://shop.example/p/2", is_bot_click=True),
            # Campaign B: n1 delivered only, n2 reply, n3 open, unsubscribe-link click and unsubscribe,
            # n4 complaint. Opens and complaints imply delivery and every message counts as sent.
            event(workspace, "b", "n1", "delivered", 1),
            event(workspace, "b", "n2", "sent", 0),
            event(workspace, "b", "n2", "delivered", 1),
            event(workspace, "b", "n2", "replied", 120),
            event(workspace, "b", "n3", "opened", 5),
            event(workspace, "b", "n3", "clicked", 6, url="https://news.example/unsubscribe?u=n3"),
            event(workspace, "b", "n3", "unsubscribed", 7),
            event(workspace, "b", "n4", "sent", 0),
            event(workspace, "b", "n4", "spam_complaint", 60),
        ]
    )
    name_campaign(clickhouse, workspace, "a", "Spring sale")

    response = post_compare(client, workspace, {"campaign_ids": ["a", "b"]})

    assert response.status_code == 200, response.text
    body = strict_json(response.text)
    assert body["success"] is True
    data = body["data"]
    assert data["workspace_id"] == workspace
    assert data["time_range"] == {"label": "all", "start": None, "end": None}
    assert [item["campaign_id"] for item in data["comparison"]] == ["a", "b"]

    first = entry(data, "a")
    assert first["campaign_name"] == "Spring sale"
    assert first["summary"] == {
        "emails_sent": 4,
        "emails_delivered": 3,
        "emails_bounced": 1,
        "emails_opened": 1,
        "emails_clicked": 1,
        "emails_replied": 0,
        "spam_complaints": 0,
        "unsubscribes": 0,
        "machine_opens": 1,
        "bot_clicks": 1,
        # Opens: m1's open (sent twice) and m2's machine open. Clicks: m1's click and m4's bot click.
        "total_opens": 2,
        "total_clicks": 2,
    }
    # 3/4, 1/4, 1/3, 1/3, 1/1, then 0/3 three times.
    assert first["metrics"] == {
        "delivery_rate": 75.0,
        "bounce_rate": 25.0,
        "open_rate": 33.33,
        "click_rate": 33.33,
        "click_to_open_rate": 100.0,
        "reply_rate": 0.0,
        "spam_rate": 0.0,
        "unsubscribe_rate": 0.0,
    }

    second = entry(data, "b")
    assert second["campaign_name"] is None
    assert second["summary"] == {
        "emails_sent": 4,
        "emails_delivered": 4,
        "emails_bounced": 0,
        "emails_opened": 1,
        "emails_clicked": 0,
        "emails_replied": 1,
        "spam_complaints": 1,
        "unsubscribes": 1,
        "machine_opens": 0,
        "bot_clicks": 0,
        "total_opens": 1,
        # The unsubscribe-link click is not a click.
        "total_clicks": 0,
    }
    # 4/4, 0/4, 1/4, 0/4, 0/1, then 1/4 three times.
    assert second["metrics"] == {
        "delivery_rate": 100.0,
        "bounce_rate": 0.0,
        "open_rate": 25.0,
        "click_rate": 0.0,
        "click_to_open_rate": 0.0,
        "reply_rate": 25.0,
        "spam_rate": 25.0,
        "unsubscribe_rate": 25.0,
    }

    assert [item["metric"] for item in data["statistical_significance"]] == ALL_METRICS
    for item in data["statistical_significance"]:
        assert {"metric", "winner", "p_value", "is_significant", "test"} <= set(item)

    # Opens 1/3 against 1/4: expected cells below 5, so Fisher's exact test, not significant.
    open_rate = significance(data, "open_rate")
    assert open_rate["test"] == "fisher_exact"
    assert open_rate["p_value"] == pytest.approx(fisher_exact([[1, 2], [1, 3]]).pvalue, rel=1e-12)
    assert open_rate["is_significant"] is False
    assert open_rate["winner"] is None


def test_compare_significant_winner(client: TestClient, insert: Insert, workspace: str):
    events = []
    for campaign, opens in (("strong", 100), ("weak", 40)):
        for number in range(200):
            message = f"{campaign}-{number}"
            events.append(event(workspace, campaign, message, "delivered", 1))
            if number < opens:
                events.append(event(workspace, campaign, message, "opened", 30))
    insert(events)

    response = post_compare(client, workspace, {"campaign_ids": ["weak", "strong"], "metrics": ["open_rate"]})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert entry(data, "strong")["metrics"] == {"open_rate": 50.0}
    assert entry(data, "weak")["metrics"] == {"open_rate": 20.0}
    assert len(data["statistical_significance"]) == 1
    result = significance(data, "open_rate")
    # Every expected cell is at least 70 (140 * 200 / 400), so the chi-square test applies.
    expected_p_value = chi2_contingency([[100, 100], [40, 160]], correction=False)[1]
    assert result["test"] == "chi_square"
    assert result["p_value"] == pytest.approx(expected_p_value, rel=1e-12)
    assert result["is_significant"] is True
    assert result["winner"] == "strong"


def test_compare_alpha_decides_winner(client: TestClient, insert: Insert, workspace: str):
    # 60/200 against 45/200: chi-square p is about 0.088, significant at 0.1 but not at 0.05.
    events = []
    for campaign, opens in (("first", 60), ("second", 45)):
        for number in range(200):
            message = f"{campaign}-{number}"
            events.append(event(workspace, campaign, message, "delivered", 1))
            if number < opens:
                events.append(event(workspace, campaign, message, "opened", 30))
    insert(events)
    expected_p_value = chi2_contingency([[60, 140], [45, 155]], correction=False)[1]
    assert 0.05 < expected_p_value < 0.1

    body = {"campaign_ids": ["first", "second"], "metrics": ["open_rate"]}

    strict = post_compare(client, workspace, body)
    loose = post_compare(client, workspace, {**body, "alpha": 0.1})

    assert strict.status_code == 200, strict.text
    assert loose.status_code == 200, loose.text
    assert significance(strict.json()["data"], "open_rate")["winner"] is None
    assert significance(loose.json()["data"], "open_rate")["winner"] == "first"


def test_compare_zero_denominator_is_null(client: TestClient, insert: Insert, workspace: str):
    insert(
        [
            event(workspace, "bounced-1", "p1", "bounced", 1, bounce_type="hard"),
            event(workspace, "bounced-1", "p2", "bounced", 1, bounce_type="soft"),
            event(workspace, "bounced-2", "q1", "bounced", 1, bounce_type="hard"),
        ]
    )

    response = post_compare(client, workspace, {"campaign_ids": ["bounced-1", "bounced-2"]})

    assert response.status_code == 200, response.text
    assert "NaN" not in response.text
    assert "Infinity" not in response.text
    data = strict_json(response.text)["data"]
    for campaign in ("bounced-1", "bounced-2"):
        metrics = entry(data, campaign)["metrics"]
        # Nothing was delivered, so every rate over delivered (and over opened) has no denominator.
        assert metrics == {
            "delivery_rate": 0.0,
            "bounce_rate": 100.0,
            "open_rate": None,
            "click_rate": None,
            "click_to_open_rate": None,
            "reply_rate": None,
            "spam_rate": None,
            "unsubscribe_rate": None,
        }
    for item in data["statistical_significance"]:
        # 0 % or 100 % everywhere, or no denominator: no test is defined.
        assert item["p_value"] is None, item["metric"]
        assert item["winner"] is None, item["metric"]
        assert item["is_significant"] is False, item["metric"]


def test_compare_range_by_send_time(client: TestClient, insert: Insert, workspace: str):
    start = BASE + dt.timedelta(days=1)
    end = BASE + dt.timedelta(days=2)
    day = 24 * 60
    insert(
        [
            # Sent 1 ms before the start: outside.
            event(workspace, "ranged", "early", "delivered", occurred_at=millis(start) - 1),
            # Sent exactly at the start: inside, and its open a week later still counts.
            event(workspace, "ranged", "at-start", "delivered", day),
            event(workspace, "ranged", "at-start", "opened", 8 * day),
            # Sent exactly at the end: outside, because the end is exclusive.
            event(workspace, "ranged", "at-end", "delivered", 2 * day),
            event(workspace, "other", "o1", "delivered", day + 60),
        ]
    )

    body = {"campaign_ids": ["ranged", "other"], "time_range": {"start": iso(start), "end": iso(end)}}

    response = post_compare(client, workspace, body)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["time_range"] == {"label": "custom", "start": iso(start), "end": iso(end)}
    summary = entry(data, "ranged")["summary"]
    assert summary["emails_sent"] == 1
    assert summary["emails_delivered"] == 1
    assert summary["emails_opened"] == 1


def test_compare_empty_range(client: TestClient, insert: Insert, workspace: str):
    insert([event(workspace, "c1", "m1", "delivered"), event(workspace, "c2", "m2", "delivered")])
    later = {"start": iso(BASE + dt.timedelta(days=30)), "end": iso(BASE + dt.timedelta(days=31))}

    response = post_compare(client, workspace, {"campaign_ids": ["c1", "c2"], "time_range": later})

    assert response.status_code == 200, response.text
    data = strict_json(response.text)["data"]
    assert entry(data, "c1")["summary"]["emails_sent"] == 0
    assert entry(data, "c1")["metrics"]["delivery_rate"] is None


# Other routes


def test_openapi_document(client: TestClient):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/api/v1/workspaces/{workspaceId}/analytics/compare"]


def test_unknown_route(client: TestClient):
    response = client.get("/api/v1/no-such-route")

    error_of(response, 404, "NOT_FOUND")


def test_compare_get_not_allowed(client: TestClient, workspace: str):
    url = COMPARE_PATH.format(workspace=workspace)

    response = client.get(url, headers={"Authorization": f"Bearer {workspace_key(workspace)}"})

    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]
