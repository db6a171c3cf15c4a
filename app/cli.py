"""The ``campaign-analytics`` command: one subcommand per process role."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from app import lag_command
from app.errors import CampaignAnalyticsError
from app.settings import Settings, load_settings

logger = logging.getLogger("campaign_analytics")


def _run(settings: Settings, args: argparse.Namespace) -> None:
    from app.runner import serve

    asyncio.run(serve(settings, with_worker=True, with_api=True, load_demo=not args.no_demo))


def _worker(settings: Settings, args: argparse.Namespace) -> None:
    from app.runner import serve

    asyncio.run(serve(settings, with_worker=True, with_api=False))


def _api(settings: Settings, args: argparse.Namespace) -> None:
    from app.runner import serve

    if settings.clickhouse_dsn.startswith("chdb:"):
        logger.warning(
            "the api command is using chDB in %s; a worker in another process cannot share that folder, "
            "so point CLICKHOUSE_URL at a ClickHouse server or use 'campaign-analytics run'",
            settings.data_dir,
        )
    asyncio.run(serve(settings, with_worker=False, with_api=True))


def _replay(settings: Settings, args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaProducer

    from app.publish import publish_lines, read_lines
    from app.topics import ensure_topics

    path = Path(args.file)
    if not path.is_file():
        raise CampaignAnalyticsError(f"{path} is not a file; give the path of an NDJSON file (.ndjson or .ndjson.gz)")
    if settings.embedded_broker:
        logger.info("KAFKA_BOOTSTRAP_SERVERS is unset: publishing to the embedded broker at %s", settings.bootstrap_servers)
    topic = args.topic or settings.topic_events

    async def publish() -> int:
        await ensure_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5, acks="all")
        await producer.start()
        try:
            key_field = "campaign_id" if topic == settings.topic_campaign_updates else None
            return await publish_lines(producer, topic, read_lines(path), key_field=key_field)
        finally:
            await producer.stop()

    try:
        count = asyncio.run(publish())
    except OSError as exc:
        # Covers unreadable files and a .gz file that is not gzip-compressed.
        raise CampaignAnalyticsError(f"cannot read {path}: {exc}") from exc
    print(f"published {count} messages from {path} to {topic} at {settings.bootstrap_servers}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign-analytics",
        description="Email-campaign analytics: Kafka events into ClickHouse aggregates, compared over HTTP. "
        "Settings come from the environment and .env (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run broker (if KAFKA_BOOTSTRAP_SERVERS is unset), worker and API in one process",
        description="Run everything in one process on the embedded defaults: the embedded broker when "
        "KAFKA_BOOTSTRAP_SERVERS is unset, chDB under DATA_DIR, the worker and the API. "
        "An empty store is filled with the bundled demo events.",
    )
    run.add_argument("--no-demo", action="store_true", help="do not load the demo events into an empty store")
    run.set_defaults(handler=_run)

    worker = commands.add_parser("worker", help="consume Kafka topics into ClickHouse (no API)",
                                 description="Consume email-events and campaign-updates into ClickHouse.")
    worker.set_defaults(handler=_worker)

    api = commands.add_parser("api", help="serve the HTTP API only",
                              description="Serve the HTTP API on API_HOST:API_PORT; needs a ClickHouse server "
                              "in CLICKHOUSE_URL when a worker runs in another process.")
    api.set_defaults(handler=_api)

    replay = commands.add_parser(
        "replay",
        help="publish an NDJSON file of events or provider envelopes to Kafka",
        description="Publish every line of FILE (NDJSON, optionally gzip-compressed) as one message. "
        "Canonical events are keyed by message_id.",
    )
    replay.add_argument("file", metavar="FILE", help="path of an .ndjson or .ndjson.gz file")
    replay.add_argument("--topic", help="topic to publish to (default: the TOPIC_EVENTS setting, email-events)")
    replay.set_defaults(handler=_replay)

    lag = commands.add_parser(
        "lag",
        help="print consumer lag per topic and partition; exit 3 past --max-lag or --max-age",
        description="Print the lag of the consumer groups on each partition: committed offset (- when the "
        "group has none), end offset, lag, and the age of the oldest unprocessed message. Exits with "
        "status 3 when a partition is past --max-lag or --max-age, and 1 when Kafka does not respond.",
    )
    lag_command.add_arguments(lag)
    lag.set_defaults(handler=lag_command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics: {exc}", file=sys.stderr)
        return 2

    from app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format == "json")
    try:
        # A handler may return its own exit status, as the lag command does past a threshold.
        status = args.handler(settings, args)
    except CampaignAnalyticsError as exc:
        print(f"campaign-analytics: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
