"""Session-wide real components: one Kafka broker and one chDB database.

chDB opens a single data folder per process, so every in-process test shares
this one database and keeps apart by using its own workspace ids.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from app.broker import EmbeddedBroker, free_port
from app.clickhouse import ClickHouse
from app.schema import migrate

RAW_EVENT_RETENTION_DAYS = 400
# boto3 needs credentials even for moto; these reach only the moto server below.
S3_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture(scope="session")
def bootstrap_servers() -> Iterator[str]:
    """The Kafka named by KAFKA_BOOTSTRAP_SERVERS, or the embedded broker on a free port."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with fake credentials in this process's environment.

    TEST_S3_ENDPOINT_URL names another S3 store instead (the Docker tests'
    MinIO), whose credentials the environment already holds.
    """
    external = os.environ.get("TEST_S3_ENDPOINT_URL")
    if external:
        yield external
        return

    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    """chDB in a temporary folder, or the ClickHouse server named by TEST_CLICKHOUSE_URL (the Docker tests')."""
    client = ClickHouse(os.environ.get("TEST_CLICKHOUSE_URL") or "chdb://" + str(tmp_path_factory.mktemp("chdb")))
    migrate(client, RAW_EVENT_RETENTION_DAYS)
    yield client
    client.close()
