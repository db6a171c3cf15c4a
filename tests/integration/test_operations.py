"""Operations on real processes: lag, readiness and SIGTERM, each on this module's own broker.

These tests stop and pause the broker and stop the service, so they start
their own broker and their own ``campaign-analytics`` processes, each with its
own DATA_DIR, instead of using the session's pipeline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from app.broker import EmbeddedBroker, free_port
from app.lag import consumer_lag
from app.lag_command import EXIT_LAGGING
from app.settings import load_settings
from app.topics import ensure_topics

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_SECONDS = 60
WAIT_SECONDS = 60
PARTITIONS = 4
OPERATOR_KEY = "operator-test-key"
WORKSPACE = "ops"
WORKSPACE_KEY = "ops-key"


class Service:
    """A ``campaign-analytics`` subprocess and the base URL of its HTTP port."""

    def __init__(self, command: str, env: dict[str, str], log: Path, url: str) -> None:
        self.log = log
        self.url = url
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *command.split()], env=env, stdout=output, stderr=subprocess.STDOUT
            )

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the service exited; see {self.log}:\n{self.log.read_text()[-3000:]}"
            try:
                if self.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready within {STARTUP_TIMEOUT_SECONDS} s; see {self.log}")

    def terminate(self) -> int:
        """Send SIGTERM and return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=40)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    yield broker
    if broker.pid:
        os.kill(broker.pid, signal.SIGCONT)  # in case a test failed while the broker was paused
    broker.stop()


@pytest.fixture
def environment(broker: EmbeddedBroker, tmp_path: Path) -> dict[str, str]:
    """Settings of one test's services: their own topics, group and keys."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "TOPIC_EVENTS": f"events-{suffix}",
        "TOPIC_EVENTS_DLQ": f"dlq-{suffix}",
        "TOPIC_CAMPAIGN_UPDATES": f"updates-{suffix}",
        "TOPIC_EXPORT_REQUESTS": f"exports-{suffix}",
        "TOPIC_PARTITIONS": str(PARTITIONS),
        "CONSUMER_GROUP": f"ops-{suffix}",
        "KAFKA_GROUP_SESSION_TIMEOUT_MS": "3000",
        "BATCH_MAX_SECONDS": "0.2",
        "LAG_REFRESH_SECONDS": "0.5",
        "API_KEYS": f"{WORKSPACE}:{WORKSPACE_KEY}",
        "OPERATOR_API_KEYS": OPERATOR_KEY,
        "LOG_LEVEL": "INFO",
    }
    env.pop("CLICKHOUSE_URL", None)
    return env


def start(command: str, env: dict[str, str], data_dir: Path, **settings: str) -> Service:
    """Start a service; ``api`` and ``run`` listen on API_PORT, ``worker`` on METRICS_PORT."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    port_setting = "METRICS_PORT" if command == "worker" else "API_PORT"
    env = {**env, **settings, "DATA_DIR": str(data_dir), "METRICS_PORT": "0", port_setting: str(port)}
    return Service(command, env, data_dir / "service.log", f"http://127.0.0.1:{port}")


async def produce(env: dict[str, str], count: int, campaigns: tuple[str, ...] = ("c1",)) -> None:
    """Publish ``count`` sent events, one message each, spread over the partitions by message id."""
    settings = load_settings(
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        topic_events=env["TOPIC_EVENTS"],
        topic_events_dlq=env["TOPIC_EVENTS_DLQ"],
        topic_campaign_updates=env["TOPIC_CAMPAIGN_UPDATES"],
        topic_export_requests=env["TOPIC_EXPORT_REQUESTS"],
        topic_partitions=PARTITIONS,
    )
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = []
        for number in range(count):
            campaign = campaigns[number % len(campaigns)]
            message_id = f"{campaign}-m{number}"
            event = {
                "type": "sent", "occurred_at": "2026-06-01T12:00:00Z", "workspace_id": WORKSPACE,
                "campaign_id": campaign, "message_id": message_id,
            }
            sends.append(await producer.send(settings.topic_events, orjson.dumps(event), key=message_id.encode()))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def lag_command(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "lag", *options], env=env, capture_output=True, text=True, timeout=60
    )


def events_lag(report: dict, env: dict[str, str]) -> dict[int, dict]:
    return {p["partition"]: p for p in report["partitions"] if p["topic"] == env["TOPIC_EVENTS"]}


def metric(text: str, name: str, **labels: str) -> list[float]:
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
    ]


def wait_until(condition, description: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {WAIT_SECONDS} s waiting until {description}")


def test_lag_follows_the_worker(environment: dict[str, str], tmp_path: Path):
    env = environment
    produced = 400
    asyncio.run(produce(env, produced))
    api = start("api", env, tmp_path / "api")
    worker: Service | None = None
    try:
        # With no worker running, every message lags and no partition has a commit.
        result = lag_command(env, "--json")
        assert result.returncode == 0, result.stderr
        before = events_lag(json.loads(result.stdout), env)
        assert sorted(before) == list(range(PARTITIONS))
        assert sum(p["lag"] for p in before.values()) == produced
        assert all(p["committed"] is None for p in before.values())
        assert all(p["lag"] == p["end"] for p in before.values())

        busiest = max(p["lag"] for p in before.values())
        assert lag_command(env, "--max-lag", str(busiest - 1)).returncode == EXIT_LAGGING
        assert lag_command(env, "--max-lag", str(busiest)).returncode == 0
        table = lag_command(env).stdout
        assert f"total lag: {produced} messages" in table

        # The API process measures the same numbers, in /metrics and at /api/v1/ops/lag.
        api.wait_ready()

        def api_metric_lag() -> dict[str, float]:
            text = api.get("/metrics").text
            return {
                p: metric(text, "campaign_analytics_consumer_lag", topic=env["TOPIC_EVENTS"], partition=p)[0]
                for p in map(str, range(PARTITIONS))
                if metric(text, "campaign_analytics_consumer_lag", topic=env["TOPIC_EVENTS"], partition=p)
            }

        wait_until(lambda: len(api_metric_lag()) == PARTITIONS, "the API's /metrics shows lag")
        assert api_metric_lag() == {str(n): float(p["lag"]) for n, p in before.items()}
        response = api.get("/api/v1/ops/lag", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert response.status_code == 200, response.text
        assert {n: p["lag"] for n, p in events_lag(response.json()["data"], env).items()} == {
            n: p["lag"] for n, p in before.items()
        }

        # A worker consumes everything: lag returns to 0 everywhere.
        worker = start("worker", env, tmp_path / "worker")
        worker.wait_ready()
        group = env["CONSUMER_GROUP"] + "-ingest"
        wait_until(
            lambda: sum(p.lag for p in asyncio.run(consumer_lag(env["KAFKA_BOOTSTRAP_SERVERS"], group, [env["TOPIC_EVENTS"]]))) == 0,
            "the ingest group has no lag",
        )
        result = lag_command(env, "--json", "--max-lag", "0")
        assert result.returncode == 0, result.stdout + result.stderr
        after = events_lag(json.loads(result.stdout), env)
        assert {n: p["committed"] for n, p in after.items()} == {n: p["end"] for n, p in before.items()}

        worker_text = worker.get("/metrics").text
        assert metric(worker_text, "campaign_analytics_messages_consumed_total", topic=env["TOPIC_EVENTS"]) == [produced]
        assert metric(worker_text, "campaign_analytics_events_inserted_total", topic=env["TOPIC_EVENTS"]) == [produced]
        wait_until(lambda: set(api_metric_lag().values()) == {0.0}, "the API's /metrics shows no lag")
        wait_until(
            lambda: metric(worker.get("/metrics").text, "campaign_analytics_consumer_lag", topic=env["TOPIC_EVENTS"])
            == [0.0] * PARTITIONS,
            "the worker's /metrics shows no lag",
        )

        assert worker.terminate() == 0
        assert api.terminate() == 0
    finally:
        api.kill()
        if worker is not None:
            worker.kill()


def test_readiness_flips(environment: dict[str, str], tmp_path: Path, broker: EmbeddedBroker):
    data_dir = tmp_path / "run"
    service = start("run --no-demo", environment, data_dir)
    try:
        service.wait_ready()

        def readiness() -> tuple[int, dict, float]:
            started = time.monotonic()
            response = service.get("/readyz")
            return response.status_code, response.json()["checks"], time.monotonic() - started

        # The chDB data folder is replaced by a file, so ClickHouse cannot write.
        folder = data_dir / "clickhouse"
        folder.rename(data_dir / "clickhouse-away")
        folder.write_text("")
        try:
            status, checks, elapsed = readiness()
            assert status == 503
            assert checks["clickhouse"]["ok"] is False
            assert checks["broker"]["ok"] is True
            assert elapsed < 1.0
        finally:
            folder.unlink()
            (data_dir / "clickhouse-away").rename(folder)
        status, checks, _ = readiness()
        assert status == 200, checks

        # A paused (SIGSTOP) broker accepts connections but never responds.
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            status, checks, elapsed = readiness()
            assert status == 503
            assert checks["broker"]["ok"] is False
            assert checks["clickhouse"]["ok"] is True
            assert elapsed < 1.0
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        wait_until(lambda: readiness()[0] == 200, "the service is ready again")

        assert service.terminate() == 0
    finally:
        service.kill()


def test_sigterm_during_batch(environment: dict[str, str], tmp_path: Path):
    env = {**environment, "BATCH_MAX_EVENTS": "500"}
    produced = 20_000
    data_dir = tmp_path / "run"
    group = env["CONSUMER_GROUP"] + "-ingest"
    servers = env["KAFKA_BOOTSTRAP_SERVERS"]
    first = start("run --no-demo", env, data_dir)
    try:
        first.wait_ready()
        asyncio.run(produce(env, produced, campaigns=("c1", "c2")))

        def inserted() -> float:
            values = metric(first.get("/metrics").text, "campaign_analytics_events_inserted_total")
            return values[0] if values else 0.0

        # Stop while batches are flowing: some stored, more to come.
        wait_until(lambda: inserted() > 0, "the first batches are stored")
        assert inserted() < produced
        started = time.monotonic()
        assert first.terminate() == 0
        assert time.monotonic() - started < 30
    finally:
        first.kill()

    # Everything the process stored was committed, and nothing else.
    stopped = re.findall(r"ingestion stopped: messages=(\d+) events=(\d+)", first.log.read_text())
    assert len(stopped) == 1
    processed = int(stopped[0][0])
    committed = sum(p.committed or 0 for p in asyncio.run(consumer_lag(servers, group, [env["TOPIC_EVENTS"]])))
    assert committed == processed
    assert processed < produced

    second = start("run --no-demo", env, data_dir)
    try:
        second.wait_ready()
        wait_until(
            lambda: sum(p.lag for p in asyncio.run(consumer_lag(servers, group, [env["TOPIC_EVENTS"]]))) == 0,
            "the restarted service consumed the rest",
        )
        # The restart read only what the first process had not committed.
        consumed = metric(second.get("/metrics").text, "campaign_analytics_messages_consumed_total")
        assert consumed == [produced - processed]

        response = httpx.post(
            second.url + f"/api/v1/workspaces/{WORKSPACE}/analytics/compare",
            json={"campaign_ids": ["c1", "c2"], "metrics": ["delivery_rate"]},
            headers={"Authorization": f"Bearer {WORKSPACE_KEY}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        sent = {entry["campaign_id"]: entry["summary"]["emails_sent"] for entry in response.json()["data"]["comparison"]}
        # Messages alternate between the two campaigns: half each, none lost, none twice.
        assert sent == {"c1": produced // 2, "c2": produced // 2}

        assert second.terminate() == 0
    finally:
        second.kill()
