"""The process lifecycle shared by the ``run``, ``worker`` and ``api`` commands.

Startup, in order:

1. Start the embedded broker when ``KAFKA_BOOTSTRAP_SERVERS`` is unset.
2. Open ClickHouse and apply the schema migrations.
3. Create missing topics, start the producer, the lag monitor and the
   readiness checks.
4. Start the Faust app (agents) and the event ingestor (worker role).
5. Load the demo events into a new store and wait until they are stored
   (``run`` only).
6. Start the HTTP API (API role), or else the worker's metrics and health
   server on ``METRICS_PORT``.

Shutdown runs the same steps backwards: stop accepting requests, stop
fetching and finish the current batch (insert, then commit), stop the
agents, flush the producer, close ClickHouse, stop the broker. A shutdown
still running after ``SHUTDOWN_TIMEOUT_SECONDS``, or a second SIGINT or
SIGTERM, stops the broker child and exits at once (``app.shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer

from app import metrics
from app.broker import EmbeddedBroker, port_is_free
from app.clickhouse import ClickHouse
from app.demo_loader import load_demo_data
from app.errors import ConfigurationError
from app.faust_app import create_faust_app
from app.operations import Operations
from app.schema import migrate
from app.settings import Settings
from app.shutdown import ShutdownDeadline, force_exit
from app.topics import ensure_topics
from streams.ingest import EventIngestor

logger = logging.getLogger(__name__)

DEMO_WORKSPACE = "demo"
SHUTDOWN_TIMEOUT_SECONDS = 30.0
PRODUCER_LINGER_MS = 5


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Process:
    settings: Settings
    with_worker: bool
    with_api: bool
    load_demo: bool
    broker: EmbeddedBroker | None = None
    clickhouse: ClickHouse | None = None
    producer: AIOKafkaProducer | None = None
    faust_app: Any = None
    ingestor: EventIngestor | None = None
    ingest_task: asyncio.Task[None] | None = None
    server: _EmbeddedServer | None = None
    server_task: asyncio.Task[None] | None = None
    api_keys: dict[str, str] = field(default_factory=dict)
    demo_key: str | None = None
    operations: Operations | None = None

    async def start(self) -> None:
        settings = self.settings
        if self.with_api and not port_is_free(settings.api_host, settings.api_port):
            raise ConfigurationError(
                f"port {settings.api_port} on {settings.api_host} is already in use; set API_PORT to a free port"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)

        # Step 1: broker.
        if settings.embedded_broker:
            self.broker = EmbeddedBroker(settings.embedded_broker_port, log_file=settings.data_dir / "broker.log")
            # Started from the main thread, so Linux kills the broker when this process
            # dies. The wait for its port blocks the loop, but only during startup.
            self.broker.start()

        # Step 2: ClickHouse.
        self.clickhouse = await asyncio.to_thread(ClickHouse, settings.clickhouse_dsn)
        await self.clickhouse.run(
            migrate, self.clickhouse, settings.raw_event_retention_days, settings.clickhouse_cluster
        )

        # Step 3: topics and producer.
        await ensure_topics(settings)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, linger_ms=PRODUCER_LINGER_MS, acks="all"
        )
        await self.producer.start()
        self.operations = Operations.start(settings, self.clickhouse)
        logger.info("startup: step=3 topics, producer and lag monitor ready: servers=%s", settings.bootstrap_servers)

        # Step 4: agents and ingestion.
        if self.with_worker:
            self.faust_app = create_faust_app(settings, self.clickhouse, self.producer)
            self.faust_app.finalize()
            await self.faust_app.start()
            self.ingestor = EventIngestor(
                settings, self.clickhouse, self.producer, on_batch=metrics.batch_observer(settings.topic_events)
            )
            self.ingest_task = asyncio.create_task(self.ingestor.run(), name="ingest")
            self.operations.attach_ingestor(self.ingestor, self.ingest_task)

        # Step 5: demo data.
        if self.load_demo:
            await load_demo_data(settings, self.clickhouse, self.producer, self.operations.lag)

        # Step 6: API.
        if self.with_api:
            self.api_keys = self._resolve_api_keys()
            from api.app import create_app

            api = create_app(
                settings, self.clickhouse, self.api_keys, operations=self.operations, producer=self.producer
            )
            config = uvicorn.Config(
                api, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off"
            )
            self.server = _EmbeddedServer(config)
            self.server_task = asyncio.create_task(self.server.serve(), name="api")
            while not self.server.started:
                if self.server_task.done():
                    self.server_task.result()
                    raise ConfigurationError(f"the API could not listen on {settings.api_host}:{settings.api_port}")
                await asyncio.sleep(0.05)
        else:
            # A worker has no API, so /metrics, /healthz and /readyz get a port of their own.
            await self.operations.serve_http()
        logger.info("startup: step=6 running: worker=%s api=%s", self.with_worker, self.with_api)

    def _resolve_api_keys(self) -> dict[str, str]:
        keys = self.settings.api_key_map()
        if keys:
            return keys
        # No keys configured: create one for the demo workspace, kept in the
        # data folder so the same key works after a restart.
        key_file = self.settings.data_dir / "demo-api-key"
        if key_file.exists():
            self.demo_key = key_file.read_text().strip()
        else:
            self.demo_key = "demo_" + secrets.token_urlsafe(24)
            key_file.write_text(self.demo_key + "\n")
            os.chmod(key_file, 0o600)
        return {self.demo_key: DEMO_WORKSPACE}

    async def stop(self) -> None:
        # Reverse order of start; each step runs even if an earlier one failed.
        if self.server and self.server_task:
            self.server.should_exit = True
            await _wait_quietly(self.server_task, "API")
        if self.operations:
            await _stop_quietly(self.operations.stop(), "metrics server and lag monitor")
        if self.ingestor and self.ingest_task:
            self.ingestor.stop()
            await _wait_quietly(self.ingest_task, "ingestion")
        if self.faust_app is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.faust_app.stop(), SHUTDOWN_TIMEOUT_SECONDS)
        if self.producer:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), SHUTDOWN_TIMEOUT_SECONDS)
        if self.clickhouse:
            self.clickhouse.close()
        if self.broker:
            await asyncio.to_thread(self.broker.stop)


async def _wait_quietly(task: asyncio.Task[None], name: str) -> None:
    try:
        await asyncio.wait_for(task, SHUTDOWN_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        logger.warning("%s did not stop within %.0f s", name, SHUTDOWN_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("%s failed while stopping", name)


async def _stop_quietly(stopping: Coroutine[Any, Any, None], name: str) -> None:
    await _wait_quietly(asyncio.ensure_future(stopping), name)


async def serve(settings: Settings, *, with_worker: bool, with_api: bool, load_demo: bool = False) -> None:
    """Run until SIGINT or SIGTERM, then shut down in order."""
    process = Process(settings, with_worker, with_api, load_demo)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_children() -> None:
        if process.broker:
            process.broker.kill()

    def request_stop() -> None:
        if stop_requested.is_set():
            force_exit("second stop signal", stop_children)
        logger.info("stop requested; shutting down")
        stop_requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        # Startup can take a while (the demo data waits until it is stored), so
        # a stop signal during startup cancels it instead of waiting for it.
        starting = asyncio.create_task(process.start())
        stopping = asyncio.create_task(stop_requested.wait())
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        stopping.cancel()
        starting.result()
        _announce(process)
        waiters = [asyncio.create_task(stop_requested.wait())]
        waiters += [task for task in (process.ingest_task, process.server_task) if task]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiters[0] and task.exception():
                logger.error("a service stopped unexpectedly", exc_info=task.exception())
    finally:
        deadline = ShutdownDeadline(settings.shutdown_timeout_seconds, stop_children)
        deadline.start()
        logger.info("shutdown: stopping within %.0f s", settings.shutdown_timeout_seconds)
        await process.stop()
        deadline.cancel()
        logger.info("stopped")


def _announce(process: Process) -> None:
    settings = process.settings
    lines = [f"Kafka: {settings.bootstrap_servers}" + (" (embedded broker)" if process.broker else "")]
    lines.append(f"ClickHouse: {'chDB in ' + str(settings.data_dir / 'clickhouse') if process.clickhouse and process.clickhouse.is_embedded else 'server'}")
    if process.with_api:
        lines.append(f"API: http://{settings.api_host}:{settings.api_port}/api/v1/")
    if process.demo_key:
        lines.append(f"Demo workspace: {DEMO_WORKSPACE}")
        lines.append(f"Demo API key: {process.demo_key}  (also in {settings.data_dir / 'demo-api-key'})")
    print("\n".join("  " + line for line in ["campaign-analytics is running", *lines, "Press Ctrl-C to stop."]), flush=True)
