"""Readiness checks: the broker responds, ClickHouse responds, the ingest consumer has partitions.

The checks run concurrently and each has ``CHECK_TIMEOUT_SECONDS``, so a
readiness response takes less than one second even when a dependency hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from app.clickhouse import ClickHouse
from app.settings import Settings
from streams.ingest import EventIngestor

CHECK_TIMEOUT_SECONDS = 0.8
BROKER_REQUEST_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class HealthChecker:
    """Runs the readiness checks of one process; the ingestor is set in worker roles."""

    def __init__(self, settings: Settings, clickhouse: ClickHouse) -> None:
        self.settings = settings
        self.clickhouse = clickhouse
        self.ingestor: EventIngestor | None = None
        self.ingest_task: asyncio.Task[None] | None = None
        self._kafka: AIOKafkaClient | None = None
        self._kafka_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def readiness(self) -> list[CheckResult]:
        checks = [self._timed("broker", self._check_broker()), self._timed("clickhouse", self._check_clickhouse())]
        if self.ingestor is not None:
            checks.append(self._timed("consumer", self._check_consumer()))
        return list(await asyncio.gather(*checks))

    async def close(self) -> None:
        self._discard_kafka_client()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _timed(self, name: str, check: Coroutine[Any, Any, str]) -> CheckResult:
        try:
            detail = await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return CheckResult(name, False, f"timed out after {CHECK_TIMEOUT_SECONDS} s")
        except (KafkaError, OSError, NotReady) as exc:
            return CheckResult(name, False, str(exc) or type(exc).__name__)
        return CheckResult(name, True, detail)

    async def _check_broker(self) -> str:
        async with self._kafka_lock:
            try:
                if self._kafka is None:
                    self._kafka = AIOKafkaClient(
                        bootstrap_servers=self.settings.bootstrap_servers,
                        request_timeout_ms=BROKER_REQUEST_TIMEOUT_MS,
                    )
                    await self._kafka.bootstrap()
                metadata = await self._kafka.fetch_all_metadata()
            except BaseException:
                # A client whose request failed or timed out may hold a half-open
                # connection; the next check starts a new one.
                self._discard_kafka_client()
                raise
        return f"{len(metadata.brokers())} broker(s) responded"

    async def _check_clickhouse(self) -> str:
        if self.clickhouse.is_embedded:
            # chDB runs inside this process, so what can fail is its data folder.
            folder = Path(urlsplit(self.clickhouse.dsn).path)
            await asyncio.to_thread(_probe_folder, folder)
            return f"chDB data folder {folder} is writable"
        # ping() is a plain GET /ping on the client's thread-safe connection
        # pool, so it does not wait behind a long query holding the client's lock.
        responded = await asyncio.to_thread(self.clickhouse.client.ping, CHECK_TIMEOUT_SECONDS)
        if not responded:
            raise NotReady("ClickHouse did not respond to /ping")
        return "ClickHouse responded to /ping"

    async def _check_consumer(self) -> str:
        if self.ingest_task is not None and self.ingest_task.done():
            raise NotReady("ingestion has stopped")
        consumer = self.ingestor.consumer if self.ingestor else None
        if consumer is None:
            raise NotReady("the ingest consumer has not started")
        assigned = consumer.assignment()
        if not assigned:
            raise NotReady("the ingest consumer has no partitions assigned")
        return f"{len(assigned)} partition(s) assigned"

    def _discard_kafka_client(self) -> None:
        # Closed in the background, so a check never waits for a hanging close.
        client, self._kafka = self._kafka, None
        if client is not None:
            task = asyncio.create_task(_close_quietly(client))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


class NotReady(Exception):
    """A dependency responded, but the process cannot do its work yet."""


async def _close_quietly(client: AIOKafkaClient) -> None:
    with contextlib.suppress(KafkaError, OSError, TimeoutError):
        await asyncio.wait_for(client.close(), BROKER_REQUEST_TIMEOUT_MS / 1000)


def _probe_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise NotReady(f"chDB data folder {folder} is missing or not a folder")
    try:
        handle, name = tempfile.mkstemp(prefix=".ready-", dir=folder)
    except OSError as exc:
        raise NotReady(f"chDB data folder {folder} is not writable: {exc.strerror}") from exc
    os.close(handle)
    os.unlink(name)
