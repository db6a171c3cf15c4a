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
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    client = ClickHouse("chdb://" + str(tmp_path_factory.mktemp("chdb")))
    migrate(client, RAW_EVENT_RETENTION_DAYS)
    yield client
    client.close()
