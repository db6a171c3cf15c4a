"""A real pipeline for the integration tests.

The session starts one broker (the embedded Tansu broker on a free port, or
the Kafka named by KAFKA_BOOTSTRAP_SERVERS) and one ``campaign-analytics run``
process on it, with chDB in a temporary folder. Tests publish to Kafka, wait
until the ingest group's lag is zero, and read the results over HTTP, as a
client would. Each test takes its own workspace, so tests share the process
without seeing each other's data.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.broker import free_port
from app.lag import consumer_lag

WORKSPACE_COUNT = 60
STARTUP_TIMEOUT_SECONDS = 90
CONSUME_TIMEOUT_SECONDS = 60
_workspace_numbers = itertools.count()


def workspace_key(workspace_id: str) -> str:
    return f"key-{workspace_id}"


class Pipeline:
    def __init__(self, bootstrap_servers: str, api_url: str, group: str, process: subprocess.Popen[bytes], log: Path):
        self.bootstrap_servers = bootstrap_servers
        self.api_url = api_url
        self.group = group
        self.process = process
        self.log = log

    async def produce(self, values: list[Any], topic: str = "email-events") -> None:
        """Publish each value (bytes as they are, anything else as JSON) and wait for the broker."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await producer.start()
        try:
            futures = []
            for value in values:
                payload = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
                key = value.get("message_id", "").encode() or None if isinstance(value, dict) else None
                futures.append(await producer.send(topic, key=key, value=payload))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def wait_consumed(self, topic: str = "email-events", group_suffix: str = "-ingest") -> None:
        """Wait until the group has committed everything on ``topic``."""
        group = self.group + group_suffix
        deadline = time.monotonic() + CONSUME_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            lags = await consumer_lag(self.bootstrap_servers, group, [topic])
            if all(p.committed is not None or p.end == 0 for p in lags) and sum(p.lag for p in lags) == 0:
                return
            assert self.process.poll() is None, f"the service exited; see {self.log}"
            await asyncio.sleep(0.2)
        raise AssertionError(f"group {group} still lags on {topic} after {CONSUME_TIMEOUT_SECONDS} s: {lags}")

    async def wait_campaigns(self) -> None:
        await self.wait_consumed("campaign-updates", group_suffix="")

    def post(self, path: str, workspace_id: str, body: Any, key: str | None = None) -> httpx.Response:
        token = key if key is not None else workspace_key(workspace_id)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.api_url}/api/v1/workspaces/{workspace_id}/analytics/{path}"
        return httpx.post(url, json=body, headers=headers, timeout=30)

    def compare(self, workspace_id: str, campaign_ids: list[str], **fields: Any) -> dict[str, Any]:
        response = self.post("compare", workspace_id, {"campaign_ids": campaign_ids, **fields})
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture(scope="session")
def export_bucket(s3_endpoint: str) -> str:
    """A bucket on the session's moto S3 server for the pipeline's exports."""
    import boto3

    name = f"pipeline-exports-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def pipeline(
    bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, export_bucket: str
) -> Iterator[Pipeline]:
    data_dir = tmp_path_factory.mktemp("pipeline")
    port = free_port()
    group = f"ca-test-{uuid.uuid4().hex[:8]}"
    keys = ",".join(f"ws{i}:{workspace_key(f'ws{i}')}" for i in range(WORKSPACE_COUNT))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "DATA_DIR": str(data_dir),
        "API_PORT": str(port),
        "API_KEYS": keys,
        "CONSUMER_GROUP": group,
        "BATCH_MAX_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
        "EXPORT_STORAGE_URL": f"s3://{export_bucket}/exports",
        "S3_ENDPOINT_URL": s3_endpoint,
    }
    env.pop("CLICKHOUSE_URL", None)
    server_url = os.environ.get("TEST_CLICKHOUSE_URL")
    if server_url:
        # The Docker tests' ClickHouse server, in a database of the pipeline's own.
        env["CLICKHOUSE_URL"] = server_url.rstrip("/") + "_pipeline"
    log = data_dir / "service.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--no-demo"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    api_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(api_url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the service did not answer within {STARTUP_TIMEOUT_SECONDS} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)

    yield Pipeline(bootstrap_servers, api_url, group, process, log)

    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def next_workspace() -> str:
    """Return a workspace id no other test of this session uses."""
    number = next(_workspace_numbers)
    assert number < WORKSPACE_COUNT, "raise WORKSPACE_COUNT: more tests than workspaces with keys"
    return f"ws{number}"


@pytest.fixture
def workspace() -> str:
    return next_workspace()
