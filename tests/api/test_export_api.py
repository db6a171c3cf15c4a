"""The export API in-process: validation, job records, idempotency, Kafka failures, signed links,
and files written by the export worker on the session's chDB database."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.errors import KafkaConnectionError

from analytics.compare import CompareRequest, compare_campaigns
from analytics.time_range import parse_time_range
from api.app import create_app
from app.clickhouse import ClickHouse
from app.export_jobs import ExportJobStore, now_ms
from app.settings import Settings
from app.storage.local import LocalStorage
from streams.campaigns import CAMPAIGN_COLUMNS, parse_campaign_update
from streams.events import EmailEvent, parse_canonical
from streams.exports import ExportWorker
from streams.ingest import classifier_from_settings
from streams.rows import COLUMN_NAMES, build_columns
from tests.api.helpers import API_KEYS, TestClient, workspace_key
from tests.export_files import UTF8_BOM, as_int, as_rate, read_rows

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EXPORT_PATH = "/api/v1/workspaces/{workspace}/analytics/export"
SIGNING_KEY = b"test-signing-key"


class RecordingProducer:
    """Stands in for the Kafka producer: records messages, or raises ``error`` when set."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.error: Exception | None = None

    async def send_and_wait(self, topic: str, key: bytes, value: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((topic, key, value))


class ExportHarness:
    def __init__(self, client: TestClient, producer: RecordingProducer, worker: ExportWorker, storage: LocalStorage):
        self.client = client
        self.producer = producer
        self.worker = worker
        self.storage = storage

    def post(self, workspace: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {workspace_key(workspace)}", **(headers or {})}
        return self.client.post(EXPORT_PATH.format(workspace=workspace), json=body, headers=all_headers)

    def get(self, workspace: str, export_id: str, key: str | None = None) -> httpx.Response:
        url = f"/api/v1/workspaces/{workspace}/analytics/exports/{export_id}"
        return self.client.get(url, headers={"Authorization": f"Bearer {key or workspace_key(workspace)}"})

    def run_queued(self) -> None:
        """Hand every queued message to the export worker, as the Faust agent would."""
        queued, self.producer.sent[:] = list(self.producer.sent), []
        for _, _, value in queued:
            asyncio.run(self.worker.handle(value))

    def export(self, workspace: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST an export, run it and return the final job view."""
        response = self.post(workspace, body)
        assert response.status_code == 202, response.text
        self.run_queued()
        final = self.get(workspace, response.json()["data"]["export_id"])
        assert final.status_code == 200, final.text
        return final.json()["data"]

    def download(self, view: dict[str, Any]) -> bytes:
        assert view["status"] == "completed", view
        response = self.client.get(view["download_url"])
        assert response.status_code == 200, response.text
        return response.content


@pytest.fixture(scope="module")
def harness(settings: Settings, clickhouse: ClickHouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportHarness]:
    storage = LocalStorage(tmp_path_factory.mktemp("exports"), SIGNING_KEY, settings.export_url_expiry_seconds)
    producer = RecordingProducer()
    app = create_app(settings, clickhouse, API_KEYS, producer=producer, export_storage=storage)  # type: ignore[arg-type]
    worker = ExportWorker(settings, clickhouse, storage, producer, lambda: ClickHouse(clickhouse.dsn))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ExportHarness(client, producer, worker, storage)
    worker.close()


def millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def event(workspace: str, campaign: str, message: str, event_type: str, minutes: float = 0, **fields: Any) -> EmailEvent:
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


def insert(clickhouse: ClickHouse, settings: Settings, events: list[EmailEvent]) -> None:
    classifier = classifier_from_settings(settings)
    clickhouse.insert_columns("email_events", build_columns(events, classifier), COLUMN_NAMES)


def name_campaign(clickhouse: ClickHouse, workspace: str, campaign: str, name: str) -> None:
    message = {"workspace_id": workspace, "campaign_id": campaign, "name": name, "updated_at": millis(BASE)}
    update = parse_campaign_update(orjson.dumps(message))
    clickhouse.insert_columns("campaigns", [[value] for value in update.row()], CAMPAIGN_COLUMNS)


def two_campaigns(clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    """Campaign a: 10 messages, 9 delivered and 1 bounced, 4 opened by people (one twice), 2 clicked,
    2 machine opens. Campaign b: 3 messages, all delivered, 1 opened."""
    events = []
    for index in range(10):
        message = f"{workspace}-a{index}"
        events.append(event(workspace, "a", message, "sent"))
        if index == 9:
            events.append(event(workspace, "a", message, "bounced", 1, bounce_type="hard"))
            continue
        events.append(event(workspace, "a", message, "delivered", 1))
        if index < 4:
            events.append(event(workspace, "a", message, "opened", 30))
        if index == 0:
            events.append(event(workspace, "a", message, "opened", 90))
        if index < 2:
            events.append(event(workspace, "a", message, "clicked", 40, url="https://shop.example/p"))
        if index in (6, 7):
            events.append(event(workspace, "a", message, "opened", 2, is_machine_open=True))
    for index in range(3):
        message = f"{workspace}-b{index}"
        events += [event(workspace, "b", message, "sent"), event(workspace, "b", message, "delivered", 1)]
    events.append(event(workspace, "b", f"{workspace}-b0", "opened", 60 * 26))
    insert(clickhouse, settings, events)
    name_campaign(clickhouse, workspace, "a", "Spring sale")


ALL_METRICS = (
    "delivery_rate", "bounce_rate", "open_rate", "click_rate", "click_to_open_rate", "reply_rate", "spam_rate",
    "unsubscribe_rate",
)


def compare_data(clickhouse: ClickHouse, settings: Settings, workspace: str) -> dict[str, dict[str, Any]]:
    """Return the compare API's data for campaigns a and b, keyed by campaign id."""
    request = CompareRequest(workspace, ("a", "b"), ALL_METRICS, parse_time_range("all"), 0.05)
    data = compare_campaigns(clickhouse, request, settings.bot_click_window_seconds)
    return {item["campaign_id"]: item for item in data["comparison"]}


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    return body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "export_type"),
        ({"export_type": "everything", "format": "csv"}, "export_type"),
        ({"export_type": "events"}, "format"),
        ({"export_type": "events", "format": "xlsx"}, "format"),
        ({"export_type": "events", "format": "csv", "granularity": "week"}, "granularity"),
        ({"export_type": "events", "format": "csv", "timezone": "Mars/Olympus"}, "timezone"),
        ({"export_type": "events", "format": "csv", "campaign_ids": []}, "campaign_ids"),
        ({"export_type": "events", "format": "csv", "campaign_ids": "a"}, "campaign_ids"),
        ({"export_type": "events", "format": "csv", "include_time_series": True}, "include_time_series"),
        ({"export_type": "events", "format": "json", "excel": True}, "excel"),
        ({"export_type": "events", "format": "csv", "excel": "yes"}, "excel"),
        ({"export_type": "events", "format": "csv", "colour": "red"}, "colour"),
    ],
)
def test_export_validation_names_field(harness: ExportHarness, workspace: str, body: dict[str, Any], field: str) -> None:
    message = error_of(harness.post(workspace, body), 400, "VALIDATION_ERROR")
    assert field in message


def test_export_validation_lists_accepted_values(harness: ExportHarness, workspace: str) -> None:
    message = error_of(harness.post(workspace, {"export_type": "events", "format": "xlsx"}), 400, "VALIDATION_ERROR")
    for accepted in ("csv", "json", "ndjson", "parquet"):
        assert accepted in message


def test_export_invalid_time_range(harness: ExportHarness, workspace: str) -> None:
    body = {"export_type": "events", "format": "csv", "time_range": {"start": "2026-03-02", "end": "2026-03-01"}}
    message = error_of(harness.post(workspace, body), 400, "INVALID_TIME_RANGE")
    assert message == "Start date must be before end date"


def test_export_unknown_campaign(harness: ExportHarness, workspace: str) -> None:
    body = {"export_type": "events", "format": "csv", "campaign_ids": ["missing"]}
    message = error_of(harness.post(workspace, body), 404, "CAMPAIGN_NOT_FOUND")
    assert message == f"Campaign missing not found in workspace {workspace}"


def test_export_needs_api_key(harness: ExportHarness, workspace: str) -> None:
    response = harness.client.post(EXPORT_PATH.format(workspace=workspace), json={"export_type": "events"})
    error_of(response, 401, "UNAUTHORIZED")


def test_export_post_records_and_queues(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    before = now_ms()
    response = harness.post(workspace, {"export_type": "events", "format": "ndjson"})
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "processing"
    assert response.headers["location"].endswith(f"/exports/{data['export_id']}")

    record = ExportJobStore(clickhouse).get(workspace, data["export_id"])
    assert record is not None
    assert record.status == "processing"
    # The work is the raw events of two_campaigns. Campaign a has 29: 10 sent, 9 delivered, 1 bounced,
    # 5 human opens, 2 machine opens and 2 clicks. Campaign b has 7: 3 sent, 3 delivered and 1 open.
    assert record.estimated_rows == 36
    assert record.estimated_completion > record.created_at >= before

    topic, key, value = harness.producer.sent[-1]
    assert topic == settings.topic_export_requests
    assert key == data["export_id"].encode()
    assert orjson.loads(value)["export_id"] == data["export_id"]
    harness.run_queued()


def test_export_jobs_are_counted(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    from prometheus_client import REGISTRY

    def jobs(status: str) -> float:
        value = REGISTRY.get_sample_value("campaign_analytics_export_jobs_total", {"status": status, "format": "ndjson"})
        return value or 0.0

    two_campaigns(clickhouse, settings, workspace)
    queued, completed = jobs("processing"), jobs("completed")
    response = harness.post(workspace, {"export_type": "events", "format": "ndjson"})
    assert response.status_code == 202, response.text
    assert jobs("processing") == queued + 1

    harness.run_queued()
    assert jobs("completed") == completed + 1


def test_export_estimate_grows_with_work(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    small = harness.post(workspace, {"export_type": "events", "format": "csv"}).json()["data"]
    insert(clickhouse, settings, [event(workspace, "big", f"m{index}", "sent") for index in range(300_000)])
    large = harness.post(workspace, {"export_type": "events", "format": "csv"}).json()["data"]
    harness.producer.sent.clear()

    def seconds(view: dict[str, Any]) -> float:
        created = dt.datetime.fromisoformat(view["created_at"])
        return (dt.datetime.fromisoformat(view["estimated_completion"]) - created).total_seconds()

    assert seconds(large) > seconds(small)


def test_idempotency_key_returns_first_job(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    body = {"export_type": "campaign_performance", "format": "csv"}
    first = harness.post(workspace, body, {"Idempotency-Key": "report-1"})
    second = harness.post(workspace, body, {"Idempotency-Key": "report-1"})
    assert first.status_code == 202
    assert second.status_code == 202
    assert second.json()["data"]["export_id"] == first.json()["data"]["export_id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len(harness.producer.sent) == 1

    harness.run_queued()
    third = harness.post(workspace, body, {"Idempotency-Key": "report-1"})
    assert third.json()["data"]["status"] == "completed"
    other = harness.post(workspace, body, {"Idempotency-Key": "report-2"})
    assert other.json()["data"]["export_id"] != first.json()["data"]["export_id"]
    harness.run_queued()


def test_idempotency_key_with_other_body(harness: ExportHarness, workspace: str) -> None:
    harness.post(workspace, {"export_type": "events", "format": "csv"}, {"Idempotency-Key": "k"})
    response = harness.post(workspace, {"export_type": "events", "format": "json"}, {"Idempotency-Key": "k"})
    message = error_of(response, 422, "VALIDATION_ERROR")
    assert "Idempotency-Key" in message
    harness.run_queued()


def test_export_kafka_down_is_503(harness: ExportHarness, clickhouse: ClickHouse, workspace: str) -> None:
    harness.producer.error = KafkaConnectionError("broker unreachable")
    try:
        response = harness.post(workspace, {"export_type": "events", "format": "csv"}, {"Idempotency-Key": "retry"})
    finally:
        harness.producer.error = None
    message = error_of(response, 503, "EXPORT_FAILED")
    assert "Kafka" in message
    assert response.headers["retry-after"] == "5"

    rows = clickhouse.query_rows(
        "SELECT argMax(status, version) AS status FROM export_jobs WHERE workspace_id = {w:String}", {"w": workspace}
    )
    assert rows[0]["status"] == "failed"

    # The same key after the outage queues the job instead of returning the failure.
    retried = harness.post(workspace, {"export_type": "events", "format": "csv"}, {"Idempotency-Key": "retry"})
    assert retried.status_code == 202
    assert retried.json()["data"]["status"] == "processing"
    assert len(harness.producer.sent) == 1
    harness.run_queued()


def test_get_export_of_other_workspace(harness: ExportHarness, workspace: str, other_workspace: str) -> None:
    created = harness.post(workspace, {"export_type": "events", "format": "csv"}).json()["data"]
    harness.run_queued()
    message = error_of(harness.get(other_workspace, created["export_id"]), 404, "EXPORT_NOT_FOUND")
    assert created["export_id"] in message
    error_of(harness.get(workspace, created["export_id"], key=workspace_key(other_workspace)), 404, "WORKSPACE_NOT_FOUND")


def test_get_unknown_export(harness: ExportHarness, workspace: str) -> None:
    error_of(harness.get(workspace, "no-such-export"), 404, "EXPORT_NOT_FOUND")


def test_export_without_data_fails(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    body = {"export_type": "events", "format": "csv", "time_range": {"start": "2020-01-01", "end": "2020-02-01"}}
    view = harness.export(workspace, body)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "EXPORT_FAILED"
    assert view["error"]["message"].startswith("no data in the requested range")
    assert view["download_url"] is None


def test_unstarted_job_fails_after_timeout(harness: ExportHarness, settings: Settings, workspace: str) -> None:
    created = harness.post(workspace, {"export_type": "events", "format": "csv"}).json()["data"]
    harness.producer.sent.clear()
    # No worker consumes the message; with a 50 ms queue timeout the job is stalled 100 ms later.
    state = harness.client.app.state  # type: ignore[attr-defined]
    state.settings = settings.model_copy(update={"export_queue_timeout_seconds": 0.05})
    try:
        time.sleep(0.1)
        view = harness.get(workspace, created["export_id"]).json()["data"]
    finally:
        state.settings = settings
    assert view["status"] == "failed"
    assert "no export worker started the job" in view["error"]["message"]


def performance_rows(harness: ExportHarness, workspace: str, export_format: str) -> dict[str, dict[str, Any]]:
    view = harness.export(workspace, {"export_type": "campaign_performance", "format": export_format})
    assert view["rows_written"] == 2
    rows = read_rows(harness.download(view), export_format)
    return {row["campaign_id"]: row for row in rows}


@pytest.mark.parametrize("export_format", ["csv", "json", "ndjson", "parquet"])
def test_campaign_performance_matches_compare(
    harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str, export_format: str
) -> None:
    two_campaigns(clickhouse, settings, workspace)
    expected = compare_data(clickhouse, settings, workspace)
    rows = performance_rows(harness, workspace, export_format)
    assert set(rows) == {"a", "b"}
    for campaign in ("a", "b"):
        for field, value in expected[campaign]["summary"].items():
            assert as_int(rows[campaign][field]) == value, (campaign, field)
        for metric, value in expected[campaign]["metrics"].items():
            assert as_rate(rows[campaign][metric]) == value, (campaign, metric)
    assert rows["a"]["campaign_name"] == "Spring sale"
    assert rows["b"]["campaign_name"] in (None, "")


@pytest.mark.parametrize("export_format", ["csv", "json", "ndjson", "parquet"])
def test_time_series_sums_to_totals(
    harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str, export_format: str
) -> None:
    two_campaigns(clickhouse, settings, workspace)
    expected = compare_data(clickhouse, settings, workspace)
    body = {"export_type": "time_series", "format": export_format, "timezone": "America/New_York"}
    rows = read_rows(harness.download(harness.export(workspace, body)), export_format)

    for campaign in ("a", "b"):
        points = [row for row in rows if row["campaign_id"] == campaign]
        # Every message is sent once and all events lie in the range, so the periods add up to the totals.
        for field in ("emails_sent", "total_opens", "total_clicks", "machine_opens"):
            assert sum(as_int(point[field]) for point in points) == expected[campaign]["summary"][field], field
    # b's open came 26 hours after sending (09:00 UTC is 04:00 in New York), so b has two local days.
    periods = [row["period_start"] for row in rows if row["campaign_id"] == "b"]
    assert periods == ["2026-03-02T00:00:00-05:00", "2026-03-03T00:00:00-05:00"]


def test_time_series_by_hour_half_hour_zone(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    body = {"export_type": "time_series", "format": "ndjson", "granularity": "hour", "timezone": "Asia/Kolkata",
            "campaign_ids": ["a"]}
    rows = read_rows(harness.download(harness.export(workspace, body)), "ndjson")
    # Sends at 09:00 UTC are 14:30 in India (UTC+05:30); opens 30 and 90 minutes later fall in 15:00 and 16:00.
    assert [row["period_start"] for row in rows] == [
        "2026-03-02T14:00:00+05:30", "2026-03-02T15:00:00+05:30", "2026-03-02T16:00:00+05:30",
    ]
    assert [row["emails_sent"] for row in rows] == [10, 0, 0]
    assert [row["total_opens"] for row in rows] == [2, 4, 1]


@pytest.mark.parametrize("export_format", ["csv", "json", "ndjson", "parquet"])
def test_events_export_matches_compare(
    harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str, export_format: str
) -> None:
    two_campaigns(clickhouse, settings, workspace)
    # A duplicate of an open, and an open whose recipient and URL carry an address.
    insert(clickhouse, settings, [
        event(workspace, "a", f"{workspace}-a1", "opened", 30),
        event(workspace, "b", f"{workspace}-b1", "clicked", 50, recipient="ana@example.com",
              url="https://shop.example/track?email=ana@example.com&id=7"),
    ])
    expected = compare_data(clickhouse, settings, workspace)
    data = harness.download(harness.export(workspace, {"export_type": "events", "format": export_format}))
    rows = read_rows(data, export_format)

    for campaign in ("a", "b"):
        opens = [row for row in rows if row["campaign_id"] == campaign and row["event_type"] == "opened"]
        clicks = [row for row in rows if row["campaign_id"] == campaign and row["event_type"] == "clicked"]
        assert len(opens) == expected[campaign]["summary"]["total_opens"]
        assert len(clicks) == expected[campaign]["summary"]["total_clicks"]
    assert b"ana@example.com" not in data
    assert "recipient_hash" not in rows[0]
    assert any(row["url"] == "https://shop.example/track?email=redacted&id=7" for row in rows)


def test_csv_neutralises_formulas(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    dangerous = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    insert(clickhouse, settings, [
        event(workspace, "c", f"{workspace}-m{index}", "clicked", index, url="https://shop.example/x", user_agent=text)
        for index, text in enumerate(dangerous)
    ] + [event(workspace, "c", f"{workspace}-safe", "clicked", 9, user_agent="Mozilla/5.0 (X11)")])
    name_campaign(clickhouse, workspace, "c", "=cmd|' /C calc'!A0")
    events = read_rows(harness.download(harness.export(workspace, {"export_type": "events", "format": "csv"})), "csv")
    agents = sorted(row["user_agent"] for row in events)
    assert agents == sorted(["'" + text for text in dangerous] + ["Mozilla/5.0 (X11)"])
    # Numbers stay numbers: the flag columns are bare digits, not quoted text.
    assert all(row["is_bot_click"] in ("0", "1") for row in events)

    body = {"export_type": "campaign_performance", "format": "csv", "campaign_ids": ["c"]}
    data = harness.download(harness.export(workspace, body))
    performance = read_rows(data, "csv")
    assert performance[0]["campaign_name"] == "'=cmd|' /C calc'!A0"
    assert ",7,0," in data.decode().splitlines()[1]


def test_csv_formulas_kept_in_json(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    insert(clickhouse, settings, [event(workspace, "c", f"{workspace}-m", "clicked", 1, user_agent="=1+1")])
    rows = read_rows(harness.download(harness.export(workspace, {"export_type": "events", "format": "json"})), "json")
    assert rows[0]["user_agent"] == "=1+1"


def test_csv_excel_adds_bom(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    name_campaign(clickhouse, workspace, "b", "Früh­jahr ✓")
    body = {"export_type": "campaign_performance", "format": "csv"}
    plain = harness.download(harness.export(workspace, body))
    excel = harness.download(harness.export(workspace, {**body, "excel": True}))
    assert not plain.startswith(UTF8_BOM)
    assert excel.startswith(UTF8_BOM)
    assert excel[len(UTF8_BOM):] == plain
    assert "Früh­jahr ✓" in excel.decode("utf-8-sig")


def test_export_same_id_same_key(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    view = harness.export(workspace, {"export_type": "events", "format": "csv"})
    job = ExportJobStore(clickhouse).get(workspace, view["export_id"])
    assert job is not None
    assert job.object_key == f"{workspace}/{view['export_id']}.csv"

    # Redelivering the finished job's message changes nothing.
    message = orjson.dumps({"export_id": job.export_id, "workspace_id": workspace})
    asyncio.run(harness.worker.handle(message))
    again = ExportJobStore(clickhouse).get(workspace, view["export_id"])
    assert again == job
    assert harness.storage.object_keys(workspace + "/") == [job.object_key]


def test_download_link_valid_expired_tampered(harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    two_campaigns(clickhouse, settings, workspace)
    view = harness.export(workspace, {"export_type": "campaign_performance", "format": "csv"})
    url = httpx.URL(view["download_url"])
    assert harness.client.get(str(url)).status_code == 200
    key = url.path.removeprefix("/api/v1/export-files/")
    expires = int(url.params["expires"])
    assert expires * 1000 == millis(dt.datetime.fromisoformat(view["expires_at"]))

    expired = harness.storage.download_link(key, "x", now_ms() - 2 * 3600 * 1000, "http://testserver")
    message = error_of(harness.client.get(expired.url), 403, "FORBIDDEN")
    assert "expired" in message

    tampered = [
        url.copy_set_param("expires", str(expires + 1)),
        url.copy_set_param("signature", "0" * 64),
        url.copy_remove_param("signature"),
        url.copy_with(path=url.path.replace(".csv", ".json")),
    ]
    for link in tampered:
        error_of(harness.client.get(str(link)), 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "key",
    ["../export-signing-key", "a/../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", ".hidden", "a//b"],
)
def test_download_link_path_traversal(harness: ExportHarness, tmp_path: Path, key: str) -> None:
    (harness.storage.root.parent / "export-signing-key").write_text("secret")
    expires = now_ms() // 1000 + 600
    # Even a correctly signed link never reads outside the export folder.
    signature = harness.storage.signature(key, expires)
    response = harness.client.get(f"/api/v1/export-files/{key}?expires={expires}&signature={signature}")
    assert response.status_code in (403, 404)
    assert b"secret" not in response.content


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_performance_with_time_series(
    harness: ExportHarness, clickhouse: ClickHouse, settings: Settings, workspace: str, export_format: str
) -> None:
    two_campaigns(clickhouse, settings, workspace)
    body = {"export_type": "campaign_performance", "format": export_format, "include_time_series": True}
    rows = {row["campaign_id"]: row for row in read_rows(harness.download(harness.export(workspace, body)), export_format)}
    points = rows["b"]["time_series"]
    # A CSV cell contains the points as JSON text; the other formats keep the array.
    if export_format == "csv":
        points = orjson.loads(points)
    # b's messages were sent and delivered on 2 March (UTC) and b0 was opened on 3 March.
    assert [point["period_start"] for point in points] == ["2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"]
    assert [point["emails_delivered"] for point in points] == [3, 0]
    assert [point["total_opens"] for point in points] == [0, 1]
    assert as_int(rows["b"]["emails_sent"]) == 3
