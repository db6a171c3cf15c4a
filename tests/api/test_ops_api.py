"""Operator endpoints on the session's broker and chDB: readiness, metrics, lag and freshness."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from api.app import create_app
from app.broker import free_port
from app.clickhouse import ClickHouse
from app.health import HealthChecker
from app.lag_monitor import LagMonitor
from app.operations import Operations
from app.settings import Settings, load_settings
from app.topics import ensure_topics
from streams.events import parse_canonical
from streams.ingest import classifier_from_settings
from streams.rows import COLUMN_NAMES, build_columns
from tests.api.helpers import TestClient

pytestmark = pytest.mark.integration

WORKSPACE = "ops-ws"
WORKSPACE_KEY = "key-ops-ws"
OPERATOR_KEY = "operator-key-1"
PUBLISHED_MESSAGES = 7
COMPARE_PATH = f"/api/v1/workspaces/{WORKSPACE}/analytics/compare"
LAG_PATH = "/api/v1/ops/lag"


def ops_settings(bootstrap_servers: str, suffix: str) -> Settings:
    return load_settings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_events=f"ops-events-{suffix}",
        topic_events_dlq=f"ops-dlq-{suffix}",
        topic_campaign_updates=f"ops-updates-{suffix}",
        topic_export_requests=f"ops-exports-{suffix}",
        consumer_group=f"ops-test-{suffix}",
        topic_partitions=2,
        operator_api_keys=f"{OPERATOR_KEY},operator-key-2",
    )


async def publish(settings: Settings, count: int) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for number in range(count):
            await producer.send_and_wait(settings.topic_events, b"{}", key=f"m{number}".encode())
    finally:
        await producer.stop()


def store_campaign_events(clickhouse: ClickHouse, settings: Settings) -> None:
    events = [
        parse_canonical({
            "type": "sent", "occurred_at": "2026-05-04T10:00:00Z", "workspace_id": WORKSPACE,
            "campaign_id": campaign, "message_id": f"{campaign}-m{number}",
        })
        for campaign in ("c1", "c2")
        for number in range(3)
    ]
    clickhouse.insert_columns("email_events", build_columns(events, classifier_from_settings(settings)), COLUMN_NAMES)


@pytest.fixture(scope="module")
def settings(bootstrap_servers: str, clickhouse: ClickHouse) -> Settings:
    settings = ops_settings(bootstrap_servers, uuid.uuid4().hex[:8])
    asyncio.run(publish(settings, PUBLISHED_MESSAGES))
    store_campaign_events(clickhouse, settings)
    return settings


@pytest.fixture(scope="module")
def client(settings: Settings, clickhouse: ClickHouse) -> Iterator[TestClient]:
    app = create_app(settings, clickhouse, {WORKSPACE_KEY: WORKSPACE})
    with TestClient(app, raise_server_exceptions=False) as test_client:
        # Started on the client's event loop, where the requests run too.
        operations = test_client.portal.call(Operations.start, settings, clickhouse)
        app.state.ops = operations
        yield test_client
        test_client.portal.call(operations.stop)


@pytest.fixture(scope="module")
def bare_client(settings: Settings, clickhouse: ClickHouse) -> Iterator[TestClient]:
    """An app built without operator services, as the compare API tests build it."""
    app: Starlette = create_app(settings, clickhouse, {WORKSPACE_KEY: WORKSPACE})
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


# Health


def test_healthz_ok(client: TestClient):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ready(client: TestClient):
    response = client.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["clickhouse"]["ok"] is True
    # No ingestor runs in an API-only process, so there is no consumer to check.
    assert "consumer" not in body["checks"]


def test_readyz_without_operations(bare_client: TestClient):
    response = bare_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"


def test_readyz_broker_unreachable(clickhouse: ClickHouse):
    # Nothing listens on a port that was just free, so the broker check fails.
    settings = load_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    operations = Operations(settings, HealthChecker(settings, clickhouse), LagMonitor(settings))
    app = create_app(settings, clickhouse, {}, operations=operations)
    with TestClient(app) as test_client:
        started = time.monotonic()
        response = test_client.get("/readyz")
        elapsed = time.monotonic() - started
        test_client.portal.call(operations.stop)

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["clickhouse"]["ok"] is True
    assert elapsed < 1.0


# Operator lag endpoint


def test_lag_without_key(client: TestClient):
    response = client.get(LAG_PATH)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_lag_with_workspace_key(client: TestClient):
    response = client.get(LAG_PATH, headers=bearer(WORKSPACE_KEY))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_lag_with_unknown_key(client: TestClient):
    response = client.get(LAG_PATH, headers=bearer("not-a-key"))

    assert response.status_code == 401


def test_lag_with_operator_key(client: TestClient, settings: Settings):
    response = client.get(LAG_PATH, headers=bearer("operator-key-2"))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    events = [p for p in data["partitions"] if p["topic"] == settings.topic_events]
    # Two partitions, no consumer has committed: every published message lags.
    assert [p["partition"] for p in events] == [0, 1]
    assert all(p["committed"] is None for p in events)
    assert all(p["group"] == settings.consumer_group + "-ingest" for p in events)
    assert sum(p["lag"] for p in events) == PUBLISHED_MESSAGES
    assert sum(p["end"] for p in events) == PUBLISHED_MESSAGES
    assert all(p["oldest_age_seconds"] >= 0 for p in events if p["lag"])
    assert data["total_lag"] == PUBLISHED_MESSAGES


def test_lag_off_without_operator_keys(clickhouse: ClickHouse):
    settings = load_settings(kafka_bootstrap_servers="127.0.0.1:1")
    app = create_app(settings, clickhouse, {})
    with TestClient(app) as test_client:
        response = test_client.get(LAG_PATH, headers=bearer(OPERATOR_KEY))

    assert response.status_code == 401
    assert "OPERATOR_API_KEYS" in response.json()["error"]["message"]


# Freshness in compare responses


def test_compare_carries_lag(client: TestClient, settings: Settings):
    client.get(LAG_PATH, headers=bearer(OPERATOR_KEY))  # a fresh measurement

    response = client.post(COMPARE_PATH, json={"campaign_ids": ["c1", "c2"]}, headers=bearer(WORKSPACE_KEY))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["as_of"] == "2026-05-04T10:00:00.000Z"
    assert data["lag"]["topic"] == settings.topic_events
    assert data["lag"]["messages"] == PUBLISHED_MESSAGES
    assert data["lag"]["measured_at"].endswith("Z")


def test_compare_lag_unknown(bare_client: TestClient):
    response = bare_client.post(COMPARE_PATH, json={"campaign_ids": ["c1", "c2"]}, headers=bearer(WORKSPACE_KEY))

    assert response.status_code == 200, response.text
    assert response.json()["data"]["lag"] is None


# Metrics


def test_metrics_count_requests_by_route(client: TestClient):
    client.post(COMPARE_PATH, json={"campaign_ids": ["c1", "c2"]}, headers=bearer(WORKSPACE_KEY))
    client.get("/no/such/path")

    text = client.get("/metrics").text

    compare_route = "/api/v1/workspaces/{workspace_id}/analytics/compare"
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in samples(text, "campaign_analytics_http_requests_total")
    }
    assert counts[("POST", compare_route, "200")] >= 1
    assert counts[("GET", "unmatched", "404")] >= 1
    # Labels hold route templates, so workspace ids never become label values.
    assert all(WORKSPACE not in route for _, route, _ in counts)
    durations = samples(text, "campaign_analytics_http_request_duration_seconds_count")
    assert any(labels["route"] == compare_route for labels, _ in durations)


def test_metrics_expose_lag(client: TestClient, settings: Settings):
    client.get(LAG_PATH, headers=bearer(OPERATOR_KEY))

    text = client.get("/metrics").text

    lag = {
        labels["partition"]: value
        for labels, value in samples(text, "campaign_analytics_consumer_lag")
        if labels["topic"] == settings.topic_events
    }
    assert sorted(lag) == ["0", "1"]
    assert sum(lag.values()) == PUBLISHED_MESSAGES
    has_commit = [
        value for labels, value in samples(text, "campaign_analytics_consumer_has_commit")
        if labels["topic"] == settings.topic_events
    ]
    assert has_commit == [0.0, 0.0]


def test_metrics_content_type(client: TestClient):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
