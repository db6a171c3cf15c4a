"""The operator-facing services of one process: lag monitor, readiness checks and, in the
worker role, a small HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.

The API role serves the same three paths on the API port. A worker has no API,
so it listens on ``METRICS_HOST:METRICS_PORT`` instead (``METRICS_PORT=0``
turns that server off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from app import metrics
from app.broker import port_is_free
from app.clickhouse import ClickHouse
from app.errors import ConfigurationError
from app.health import HealthChecker
from app.lag_monitor import LagMonitor
from app.settings import Settings
from streams.ingest import EventIngestor

logger = logging.getLogger(__name__)

SERVER_STOP_TIMEOUT_SECONDS = 5.0


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Operations:
    settings: Settings
    health: HealthChecker
    lag: LagMonitor
    ingestor: EventIngestor | None = None
    server: _QuietServer | None = None
    server_task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, settings: Settings, clickhouse: ClickHouse) -> Operations:
        """Create the services and start measuring lag in the background."""
        operations = cls(settings, HealthChecker(settings, clickhouse), LagMonitor(settings))
        operations.lag.start()
        metrics.STATE.add_lag_monitor(operations.lag)
        return operations

    def attach_ingestor(self, ingestor: EventIngestor, task: asyncio.Task[None]) -> None:
        """Expose the ingestor's totals in ``/metrics`` and its consumer in ``/readyz``."""
        self.ingestor = ingestor
        self.health.ingestor = ingestor
        self.health.ingest_task = task
        metrics.STATE.add_ingestor(self.settings.topic_events, ingestor.stats)

    async def serve_http(self) -> None:
        """Start the worker's ``/metrics``, ``/healthz`` and ``/readyz`` server unless METRICS_PORT is 0."""
        host, port = self.settings.metrics_host, self.settings.metrics_port
        if port == 0:
            return
        if not port_is_free(host, port):
            raise ConfigurationError(
                f"port {port} on {host} is already in use; set METRICS_PORT to a free port, or 0 to turn "
                "the worker's metrics server off"
            )
        from api.ops import create_ops_app

        config = uvicorn.Config(create_ops_app(self), host=host, port=port, log_level="warning", lifespan="off")
        self.server = _QuietServer(config)
        self.server_task = asyncio.create_task(self.server.serve(), name="ops-http")
        while not self.server.started:
            if self.server_task.done():
                self.server_task.result()
                raise ConfigurationError(f"the metrics server could not listen on {host}:{port}")
            await asyncio.sleep(0.05)
        logger.info("metrics and health server listening: address=http://%s:%s", host, port)

    async def stop(self) -> None:
        """Stop the HTTP server, the lag monitor and the health clients; each step runs even if one fails."""
        if self.server is not None and self.server_task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server_task, SERVER_STOP_TIMEOUT_SECONDS)
        if self.ingestor is not None:
            metrics.STATE.remove_ingestor(self.ingestor.stats)
        metrics.STATE.remove_lag_monitor(self.lag)
        await self.lag.stop()
        await self.health.close()
