"""Loading the bundled demo data into a new store, for ``campaign-analytics run``."""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app.clickhouse import ClickHouse
from app.lag_monitor import LagMonitor
from app.publish import publish_lines, read_lines
from app.settings import Settings

logger = logging.getLogger(__name__)

DEMO_WORKSPACES = ("demo", "acme")
MARKER_NAME = "demo-loaded"
INGEST_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 0.5


async def load_demo_data(
    settings: Settings, clickhouse: ClickHouse, producer: AIOKafkaProducer, lag_monitor: LagMonitor
) -> None:
    """Publish the demo events and wait until the worker has stored them all.

    The marker file is written only after the events are stored. The embedded
    broker keeps messages in memory, so a stop before that point loses what was
    not stored yet, and the next start publishes the demo again, which the
    content-keyed counting absorbs. A store that contains other workspaces' data
    is left alone.
    """
    marker = settings.data_dir / MARKER_NAME
    if marker.exists():
        return
    rows = await clickhouse.run(
        clickhouse.query_rows,
        "SELECT count() AS n FROM message_state WHERE workspace_id NOT IN {demo:Array(String)}",
        {"demo": list(DEMO_WORKSPACES)},
    )
    if rows[0]["n"]:
        logger.info("the store contains data of other workspaces; demo data not loaded")
        return

    demo = resources.files("app.demo")
    with resources.as_file(demo / "campaigns.ndjson") as campaigns, resources.as_file(demo / "events.ndjson.gz") as events:
        sent_campaigns = await publish_lines(
            producer, settings.topic_campaign_updates, read_lines(Path(campaigns)), key_field="campaign_id"
        )
        sent_events = await publish_lines(producer, settings.topic_events, read_lines(Path(events)))
    logger.info(
        "demo data published: campaign_updates=%s messages=%s; waiting until they are stored", sent_campaigns, sent_events
    )

    await _wait_until_consumed(lag_monitor)
    marker.write_text("")
    logger.info("demo data stored")


async def _wait_until_consumed(lag_monitor: LagMonitor) -> None:
    # Measuring through the monitor also refreshes the lag that compare
    # responses report, so the first answers do not show the demo as pending.
    deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            snapshot = await lag_monitor.measure()
        except (KafkaError, OSError, TimeoutError) as exc:
            logger.warning("consumer lag could not be measured while loading the demo: %r", exc)
        else:
            if snapshot.total() == 0:
                return
        await asyncio.sleep(POLL_SECONDS)
    logger.warning("demo data not fully stored after %.0f s; it will be published again on the next start",
                   INGEST_TIMEOUT_SECONDS)
