"""Exports end to end: POST over HTTP, Kafka, the export agent in a `campaign-analytics run`
process, files in a moto S3 server, downloads at presigned URLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest

from app.broker import free_port
from tests.export_files import as_int, as_rate, read_rows
from tests.integration.conftest import Pipeline
from tests.integration.helpers import at, event, summary_of

pytestmark = pytest.mark.integration

EXPORT_TIMEOUT_SECONDS = 60
FORMATS = ("csv", "json", "ndjson", "parquet")


def start_export(api_url: str, workspace: str, key: str, body: dict[str, Any]) -> str:
    response = httpx.post(
        f"{api_url}/api/v1/workspaces/{workspace}/analytics/export", json=body,
        headers={"Authorization": f"Bearer {key}"}, timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["data"]["export_id"]


def wait_finished(api_url: str, workspace: str, key: str, export_id: str, timeout: float = EXPORT_TIMEOUT_SECONDS) -> dict[str, Any]:
    url = f"{api_url}/api/v1/workspaces/{workspace}/analytics/exports/{export_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        except httpx.TransportError:
            time.sleep(0.5)  # the service is restarting
            continue
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if data["status"] != "processing":
            return data
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} still processing after {timeout} s")


def export_rows(pipeline: Pipeline, workspace: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    key = f"key-{workspace}"
    view = wait_finished(pipeline.api_url, workspace, key, start_export(pipeline.api_url, workspace, key, body))
    assert view["status"] == "completed", view
    assert view["expires_at"] is not None
    download = httpx.get(view["download_url"], timeout=30)
    assert download.status_code == 200
    assert len(download.content) == view["file_size_bytes"]
    return read_rows(download.content, body["format"])


def stream_of(ws: str) -> list[dict[str, Any]]:
    """Campaign a: 6 messages, 5 delivered and 1 bounced; people opened a0-a2 (a0 twice) and clicked a0;
    a machine opened a4. Campaign b: 2 messages, delivered, b0 opened a day later."""
    events = []
    for index in range(6):
        message = f"{ws}-a{index}"
        events.append(event(ws, "a", message, "sent", at()))
        if index == 5:
            events.append(event(ws, "a", message, "bounced", at(minutes=1), bounce_type="hard"))
            continue
        events.append(event(ws, "a", message, "delivered", at(minutes=1)))
        if index < 3:
            events.append(event(ws, "a", message, "opened", at(minutes=30)))
        if index == 4:
            events.append(event(ws, "a", message, "opened", at(minutes=3), is_machine_open=True))
    events.append(event(ws, "a", f"{ws}-a0", "opened", at(minutes=50)))
    events.append(event(ws, "a", f"{ws}-a0", "clicked", at(minutes=40), url="https://shop.example/p?u=ana@example.com"))
    for index in range(2):
        events += [event(ws, "b", f"{ws}-b{index}", "sent", at()), event(ws, "b", f"{ws}-b{index}", "delivered", at(minutes=1))]
    events.append(event(ws, "b", f"{ws}-b0", "opened", at(days=1), recipient="ana@example.com"))
    return events


async def test_every_export_round_trips(pipeline: Pipeline, workspace: str) -> None:
    ws = workspace
    await pipeline.produce([{"workspace_id": ws, "campaign_id": "a", "name": "=Autumn sale", "updated_at": at()}],
                           topic="campaign-updates")
    events = stream_of(ws)
    await pipeline.produce(events + events[:4])
    await pipeline.wait_consumed()
    await pipeline.wait_campaigns()
    data = pipeline.compare(ws, ["a", "b"])

    for export_format in FORMATS:
        rows = {row["campaign_id"]: row for row in export_rows(
            pipeline, ws, {"export_type": "campaign_performance", "format": export_format}
        )}
        for campaign in ("a", "b"):
            for field, value in summary_of(data, campaign).items():
                assert as_int(rows[campaign][field]) == value, (export_format, campaign, field)
            metrics = next(item["metrics"] for item in data["comparison"] if item["campaign_id"] == campaign)
            for metric, value in metrics.items():
                assert as_rate(rows[campaign][metric]) == value, (export_format, campaign, metric)
        expected_name = "'=Autumn sale" if export_format == "csv" else "=Autumn sale"
        assert rows["a"]["campaign_name"] == expected_name

        points = export_rows(pipeline, ws, {"export_type": "time_series", "format": export_format})
        for campaign in ("a", "b"):
            mine = [point for point in points if point["campaign_id"] == campaign]
            for field in ("emails_sent", "total_opens", "total_clicks", "machine_opens"):
                assert sum(as_int(point[field]) for point in mine) == summary_of(data, campaign)[field], (export_format, field)

        raw = export_rows(pipeline, ws, {"export_type": "events", "format": export_format})
        # The duplicates published above are one event each in the export.
        assert len(raw) == len(events)
        for campaign in ("a", "b"):
            opens = [row for row in raw if row["campaign_id"] == campaign and row["event_type"] == "opened"]
            assert len(opens) == summary_of(data, campaign)["total_opens"]
        assert all("ana@example.com" not in str(row) for row in raw)


def test_export_of_unknown_campaign(pipeline: Pipeline, workspace: str) -> None:
    response = pipeline.post("export", workspace, {"export_type": "events", "format": "csv", "campaign_ids": ["x"]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"


def _service_env(bootstrap_servers: str, data_dir: Path, port: int, suffix: str, s3_endpoint: str, bucket: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "DATA_DIR": str(data_dir),
        "API_PORT": str(port),
        "API_KEYS": "crash:key-crash",
        "CONSUMER_GROUP": f"crash-{suffix}",
        "TOPIC_EVENTS": f"crash-events-{suffix}",
        "TOPIC_EVENTS_DLQ": f"crash-dlq-{suffix}",
        "TOPIC_CAMPAIGN_UPDATES": f"crash-campaigns-{suffix}",
        "TOPIC_EXPORT_REQUESTS": f"crash-exports-{suffix}",
        "KAFKA_GROUP_SESSION_TIMEOUT_MS": "3000",
        "BATCH_MAX_SECONDS": "0.2",
        "EXPORT_LEASE_SECONDS": "2",
        "EXPORT_STORAGE_URL": f"s3://{bucket}/crash",
        "S3_ENDPOINT_URL": s3_endpoint,
        "EXPORT_PART_SIZE_BYTES": str(5 * 1024 * 1024),
        "LOG_LEVEL": "INFO",
    }


def _start(env: dict[str, str], log: Path, api_url: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--no-demo"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(api_url + "/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the service did not start:\n{log.read_text()[-4000:]}")


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text()[-4000:]
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not in the log after {timeout} s:\n{log.read_text()[-4000:]}")


async def test_export_survives_crash(
    bootstrap_servers: str, s3_endpoint: str, export_bucket: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = _service_env(bootstrap_servers, tmp_path, port, suffix, s3_endpoint, export_bucket)
    log = tmp_path / "service.log"
    process = _start(env, log, api_url)
    try:
        # 120,000 events in messages of about 500 events: an events CSV of about 12 MiB, three parts.
        batch: list[dict[str, Any]] = []
        values = []
        for index in range(40_000):
            message = f"m{index}"
            batch += [event("crash", f"c{index % 3}", message, kind, at(minutes=minute + index / 1000))
                      for kind, minute in (("sent", 0), ("delivered", 1), ("opened", 30))]
            if len(batch) >= 500:
                values.append(orjson.dumps(batch))
                batch = []
        values.append(orjson.dumps(batch))
        pipeline = Pipeline(bootstrap_servers, api_url, f"crash-{suffix}", process, log)
        await pipeline.produce(values, topic=f"crash-events-{suffix}")
        await pipeline.wait_consumed(topic=f"crash-events-{suffix}")

        export_id = start_export(api_url, "crash", "key-crash", {"export_type": "events", "format": "csv"})
        _wait_for_line(log, f"export started: export_id={export_id}", process, timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

        process = _start(env, log, api_url)
        view = wait_finished(api_url, "crash", "key-crash", export_id, timeout=90)
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    prefix = "crash/crash/"
    objects = [item["Key"] for item in s3.list_objects_v2(Bucket=export_bucket, Prefix=prefix).get("Contents", [])]
    uploads = s3.list_multipart_uploads(Bucket=export_bucket, Prefix=prefix).get("Uploads", [])
    if view["status"] == "completed":
        assert objects == [f"{prefix}{export_id}.csv"]
        assert view["rows_written"] == 120_000
        assert uploads == []
    else:
        assert view["status"] == "failed"
        assert view["error"]["code"] == "EXPORT_FAILED"
        assert view["error"]["message"]
        assert objects == []
