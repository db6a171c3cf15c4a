"""The ClickHouse client: one ``clickhouse-connect`` client for chDB and for servers.

The embedded default and a server differ only in the DSN (``chdb:///path`` or
``http(s)://user:password@host:8123/database``). The client is synchronous, so
async code calls it through :meth:`ClickHouse.run`, which moves the call off
the event loop. One lock serialises calls because a clickhouse-connect client
is not safe for concurrent use from several threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from app.errors import ConfigurationError, StorageError

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "campaign_analytics"
CONNECT_TIMEOUT_SECONDS = 10
QUERY_TIMEOUT_SECONDS = 300

T = TypeVar("T")


class ClickHouse:
    """A thread-safe wrapper around one clickhouse-connect client."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.is_embedded = dsn.startswith("chdb:")
        self._lock = threading.Lock()
        self.database = _database_from_dsn(dsn)
        try:
            if self.is_embedded:
                location = urlsplit(dsn).path
                if location:
                    from pathlib import Path

                    Path(location).mkdir(parents=True, exist_ok=True)
                client = clickhouse_connect.get_client(dsn=dsn)
            else:
                client = clickhouse_connect.get_client(
                    dsn=dsn,
                    database="default",
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    send_receive_timeout=QUERY_TIMEOUT_SECONDS,
                )
            client.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
            client.database = self.database
        except ClickHouseError as exc:
            raise StorageError(f"cannot open ClickHouse at {_redact(dsn)}: {exc}") from exc
        except OSError as exc:
            raise ConfigurationError(f"cannot open ClickHouse at {_redact(dsn)}: {exc}") from exc
        self.client = client

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self.client.command(sql, parameters=parameters)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dictionaries keyed by column name."""
        with self._lock:
            try:
                result = self.client.query(sql, parameters=parameters)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def insert_columns(self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        with self._lock:
            try:
                self.client.insert(table, list(columns), column_names=list(column_names), column_oriented=True)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc

    def raw_query(self, sql: str, parameters: dict[str, Any] | None = None, fmt: str = "TabSeparated") -> bytes:
        """Run a query and return ClickHouse's own output in format ``fmt``."""
        with self._lock:
            try:
                return self.client.raw_query(sql, parameters=parameters, fmt=fmt)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc

    @contextlib.contextmanager
    def raw_stream(self, sql: str, parameters: dict[str, Any] | None, fmt: str) -> Iterator[io.RawIOBase]:
        """Open ClickHouse's output of ``sql`` in format ``fmt`` as a file to read in chunks.

        The lock is held until the stream is closed, so a long stream blocks every
        other call on this object: give long exports a ClickHouse object of their
        own. chDB streams only formats without a global header or footer (CSV,
        TabSeparated, JSONEachRow, RowBinary, Native) block by block and builds
        any other format whole in memory first (clickhouse-connect 1.12).
        """
        with self._lock:
            try:
                stream = self.client.raw_stream(sql, parameters=parameters, fmt=fmt)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc
            try:
                yield _TranslatedStream(stream)
            finally:
                stream.close()

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call one of this object's methods in a worker thread, off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            self.client.close()


class _TranslatedStream(io.RawIOBase):
    """A readable stream that raises StorageError for ClickHouse errors in the middle of the output."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._stream.read(size)
        except ClickHouseError as exc:
            raise StorageError(str(exc)) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _database_from_dsn(dsn: str) -> str:
    if dsn.startswith("chdb:"):
        return DEFAULT_DATABASE
    path = urlsplit(dsn).path.strip("/")
    return path or DEFAULT_DATABASE


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(f":{parts.password}@", ":***@")
    return dsn
