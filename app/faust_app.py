"""The Faust app: agents for the low-volume topics.

``campaign-updates`` and ``analytics-export-requests`` are consumed by Faust
agents. The high-volume ``email-events`` topic is consumed by
``streams.ingest.EventIngestor`` in the same process, for the reason given there.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from app import metrics
from app.clickhouse import ClickHouse
from app.settings import Settings
from app.storage import open_storage
from streams.campaigns import CAMPAIGN_COLUMNS, parse_campaign_update
from streams.dlq import dead_letter_value
from streams.events import InvalidEvent
from streams.exports import ExportWorker, register_export_agent

logger = logging.getLogger(__name__)

CAMPAIGN_BATCH_SIZE = 500
CAMPAIGN_BATCH_SECONDS = 1.0


def create_faust_app(settings: Settings, clickhouse: ClickHouse, producer: AIOKafkaProducer) -> faust.App:
    session_seconds = settings.kafka_group_session_timeout_ms / 1000
    app = faust.App(
        settings.consumer_group,
        datadir=str(settings.data_dir / "faust"),
        broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_seconds,
        broker_heartbeat_interval=max(session_seconds / 3, 0.1),
        broker_rebalance_timeout=max(session_seconds, 10.0),
    )
    updates_topic = app.topic(
        settings.topic_campaign_updates, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )

    @app.agent(updates_topic, name="campaign-updates")
    async def campaign_updates(stream: Any) -> None:
        async for events in stream.take_events(CAMPAIGN_BATCH_SIZE, within=CAMPAIGN_BATCH_SECONDS):
            rows = []
            for event in events:
                try:
                    rows.append(parse_campaign_update(event.value).row())
                except InvalidEvent as error:
                    message = event.message
                    value = dead_letter_value(event.value, error, message.topic, message.partition, message.offset)
                    await producer.send_and_wait(settings.topic_events_dlq, key=event.key, value=value)
                    logger.warning(
                        "campaign update rejected: topic=%s partition=%s offset=%s reason=%s",
                        message.topic, message.partition, message.offset, error.reason,
                    )
                    metrics.STATE.record_rejected(message.topic, error.reason)
                    metrics.DEAD_LETTERS.labels(message.topic).inc()
            if rows:
                await clickhouse.run(clickhouse.insert_columns, "campaigns", list(zip(*rows)), CAMPAIGN_COLUMNS)

    export_worker = ExportWorker(
        settings, clickhouse, open_storage(settings), producer, lambda: ClickHouse(settings.clickhouse_dsn)
    )
    register_export_agent(app, export_worker, settings)
    return app
