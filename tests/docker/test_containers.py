"""The integration suite against real servers in containers: Apache Kafka, ClickHouse server, MinIO.

It runs only where a Docker engine responds, and skips at once with the reason
otherwise. The suite itself runs in a child pytest, with the container
addresses in the environment that ``tests/conftest.py`` and
``tests/integration/conftest.py`` read: KAFKA_BOOTSTRAP_SERVERS,
TEST_CLICKHOUSE_URL and TEST_S3_ENDPOINT_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER_PING_TIMEOUT_SECONDS = 3
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
SUITE_TIMEOUT_SECONDS = 1200
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:24.8"
MINIO_IMAGE = "minio/minio:RELEASE.2024-10-13T13-34-11Z"
CLICKHOUSE_USER = "analytics"
CLICKHOUSE_PASSWORD = "analytics"
MINIO_USER = "minioadmin"
MINIO_PASSWORD = "minioadmin"


def docker_unavailable() -> str | None:
    """Return why no Docker engine can be used, or None when one responds."""
    if not os.environ.get("DOCKER_HOST") and not Path(DEFAULT_DOCKER_SOCKET).exists():
        return f"no Docker engine: DOCKER_HOST is unset and {DEFAULT_DOCKER_SOCKET} does not exist"

    import docker

    try:
        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
    except docker.errors.DockerException as exc:
        return f"no Docker engine responds: {exc}"
    try:
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        return f"the Docker engine does not respond to a ping: {exc}"
    finally:
        client.close()
    return None


_REASON = docker_unavailable()
pytestmark = [pytest.mark.docker, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """Start the three containers and return the environment that points the suite at them."""
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    clickhouse = (
        DockerContainer(CLICKHOUSE_IMAGE)
        .with_env("CLICKHOUSE_USER", CLICKHOUSE_USER)
        .with_env("CLICKHOUSE_PASSWORD", CLICKHOUSE_PASSWORD)
        .with_env("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT", "1")
        .with_exposed_ports(8123)
        .waiting_for(HttpWaitStrategy(8123, "/ping"))
    )
    minio = (
        DockerContainer(MINIO_IMAGE)
        .with_env("MINIO_ROOT_USER", MINIO_USER)
        .with_env("MINIO_ROOT_PASSWORD", MINIO_PASSWORD)
        .with_command("server /data")
        .with_exposed_ports(9000)
        .waiting_for(HttpWaitStrategy(9000, "/minio/health/live"))
    )
    with kafka, clickhouse, minio:
        clickhouse_address = f"{clickhouse.get_container_host_ip()}:{clickhouse.get_exposed_port(8123)}"
        database = f"ca_test_{uuid.uuid4().hex[:8]}"
        yield {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "TEST_CLICKHOUSE_URL": f"http://{CLICKHOUSE_USER}:{CLICKHOUSE_PASSWORD}@{clickhouse_address}/{database}",
            "TEST_S3_ENDPOINT_URL": f"http://{minio.get_container_host_ip()}:{minio.get_exposed_port(9000)}",
            "AWS_ACCESS_KEY_ID": MINIO_USER,
            "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def test_integration_suite_on_containers(servers: dict[str, str]):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not docker", "tests/integration", "tests/streams", "tests/api"],
        cwd=ROOT,
        env={**os.environ, **servers},
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_SECONDS,
    )

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
