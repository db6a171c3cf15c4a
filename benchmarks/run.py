"""Run the ingestion and export benchmarks and write benchmarks/RESULTS.md.

Usage: ``python -m benchmarks.run [--events N] [--batch-size N] [--export-rows N]
[--export-repeats N] [--skip-ingestion] [--skip-export] [--results PATH] [--profile]``
(``make bench`` runs both parts with the defaults).

Steps, all in this process, with chDB in a temporary folder:

1. Ingestion, against an embedded broker on a free 127.0.0.1 port:

   a. Generate the events and produce them to a *single* topic (one event per
      message) and a *batched* topic (JSON arrays of ``--batch-size`` events).
   b. Measure the aiokafka ceiling on both topics.
   c. Measure a per-event Faust agent on the single topic.
   d. Measure EventIngestor on the single topic, check the rows in ClickHouse,
      empty the tables, then the same on the batched topic.
   e. Time each ingestion stage on its own (and, with ``--profile``, profile one
      more ingestion run of the single topic).

2. Export, without Kafka: fill the raw table with ``--export-rows`` events in
   ClickHouse, then measure the product's CSV and Parquet exports against
   ClickHouse writing the same files itself (:mod:`benchmarks.export_throughput`).
3. Write and print the results page.

Topic names and consumer groups carry a random suffix, so runs never share
state. The broker, the clients and chDB are stopped on every exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import io
import logging
import pstats
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from app.broker import EmbeddedBroker, free_port
from app.clickhouse import ClickHouse
from app.errors import CampaignAnalyticsError
from app.logs import configure_logging
from app.publish import publish_lines
from app.schema import migrate
from app.settings import Settings, load_settings
from app.topics import ensure_topics
from benchmarks.baselines import measure_ceiling, measure_faust_agent
from benchmarks.events import batch_values, generate_events
from benchmarks.export_throughput import ExportResults, measure_export_throughput
from benchmarks.ingestion import (
    IngestionRun,
    TableCount,
    empty_tables,
    measure_ingestion,
    verify_raw_table,
)
from benchmarks.machine import machine_details, peak_rss_mib, process_peak_rss_mib
from benchmarks.measurement import BenchmarkError
from benchmarks.report import IngestionResults, ResultsPage, render
from benchmarks.stages import time_stages

logger = logging.getLogger("benchmarks")

DEFAULT_EVENTS = 200_000
DEFAULT_BATCH_SIZE = 100
DEFAULT_EXPORT_ROWS = 1_000_000
DEFAULT_EXPORT_REPEATS = 3
RESULTS_PATH = Path(__file__).resolve().with_name("RESULTS.md")
PRODUCER_LINGER_MS = 5
PROFILE_TOP_FUNCTIONS = 25


@dataclass(frozen=True)
class Options:
    events: int
    batch_size: int
    export_rows: int
    export_repeats: int
    skip_ingestion: bool
    skip_export: bool
    results: Path
    profile: bool
    command: str


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Measure event ingestion against a plain aiokafka consumer and a per-event Faust agent, "
        "and CSV and Parquet exports against ClickHouse writing the same files itself.",
    )
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS,
        help=f"number of events produced to each topic (default {DEFAULT_EVENTS:,})",
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
        help=f"events per message on the batched topic (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--export-rows", type=int, default=DEFAULT_EXPORT_ROWS,
        help="number of events inserted into ClickHouse and exported in each format "
        f"(default {DEFAULT_EXPORT_ROWS:,})",
    )
    parser.add_argument(
        "--export-repeats", type=int, default=DEFAULT_EXPORT_REPEATS,
        help="runs of each export and baseline, of which the fastest time and the largest RSS growth are kept "
        f"(default {DEFAULT_EXPORT_REPEATS})",
    )
    parser.add_argument(
        "--skip-ingestion", action="store_true",
        help="run only the export part, so the results page contains no ingestion figures",
    )
    parser.add_argument(
        "--skip-export", action="store_true",
        help="run only the ingestion part, so the results page contains no export figures",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS_PATH, help=f"where to write the results page (default {RESULTS_PATH})"
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="profile one more ingestion run of the single topic with cProfile and print the top functions",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error(f"--events must be at least 1, got {args.events}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.export_rows < 1:
        parser.error(f"--export-rows must be at least 1, got {args.export_rows}")
    if args.export_repeats < 1:
        parser.error(f"--export-repeats must be at least 1, got {args.export_repeats}")
    if args.skip_ingestion and args.skip_export:
        parser.error("--skip-ingestion and --skip-export together leave nothing to run; drop one of them")
    command = shlex.join(["python", "-m", "benchmarks.run", *argv])
    return Options(
        args.events, args.batch_size, args.export_rows, args.export_repeats, args.skip_ingestion,
        args.skip_export, args.results, args.profile, command,
    )


def clickhouse_dsn(workdir: Path) -> str:
    """Return the chDB of the run: one folder, because chDB opens one data path per process."""
    return f"chdb://{workdir / 'clickhouse'}"


def send_start() -> dt.datetime:
    """Return yesterday at midnight UTC: benchmark events start then, so the raw-table TTL keeps them all."""
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=1)


def benchmark_settings(run_id: str, bootstrap_servers: str, workdir: Path, shape: str, group: str) -> Settings:
    """Return settings for one consumer of this run: the ``shape`` topic as ``topic_events``, group ``group``."""
    prefix = f"benchmark-{run_id}"
    return load_settings(
        kafka_bootstrap_servers=bootstrap_servers,
        clickhouse_url=clickhouse_dsn(workdir),
        data_dir=workdir,
        topic_events=f"{prefix}-events-{shape}",
        topic_events_dlq=f"{prefix}-events-dlq",
        topic_campaign_updates=f"{prefix}-campaign-updates",
        topic_export_requests=f"{prefix}-export-requests",
        consumer_group=f"{prefix}-{group}",
    )


async def produce(producer: AIOKafkaProducer, topic: str, values: list[bytes]) -> float:
    """Publish ``values`` to ``topic`` and return the seconds until the broker acknowledged all of them."""
    started = time.perf_counter()
    sent = await publish_lines(producer, topic, iter(values))
    if sent != len(values):
        raise BenchmarkError(f"published {sent} of {len(values)} messages to {topic}")
    seconds = time.perf_counter() - started
    logger.info("produced %s messages to %s in %.1f s", sent, topic, seconds)
    return seconds


async def profile_ingestion(
    settings: Settings, clickhouse: ClickHouse, producer: AIOKafkaProducer, expected_events: int
) -> None:
    """Run ingestion once more under cProfile and print the functions with the most own time.

    cProfile records only the event loop's thread, so time spent in the insert
    thread shows up as the loop waiting in ``epoll``. The stage timings cover the insert.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run = await measure_ingestion(settings, clickhouse, producer, expected_events, "single, profiled")
    finally:
        profiler.disable()
    await clickhouse.run(verify_raw_table, clickhouse, expected_events, "single (profiled)")
    await clickhouse.run(empty_tables, clickhouse)

    output = io.StringIO()
    stats = pstats.Stats(profiler, stream=output)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(PROFILE_TOP_FUNCTIONS)
    print(
        f"cProfile of one ingestion run of the single topic: {run.measurement.events_per_second:,.0f} events/s "
        "under the profiler; top functions by own time:"
    )
    print(output.getvalue())


async def run_benchmark(
    options: Options, broker: EmbeddedBroker, workdir: Path
) -> tuple[IngestionResults, float | None]:
    """Produce, measure every consumer and check the stored rows.

    Returns the results and the broker's peak RSS in MiB (None where /proc does not show it).
    """
    # SIGTERM cancels the run like Ctrl-C does, so every cleanup step below runs.
    main_task = asyncio.current_task()
    assert main_task is not None  # asyncio.run runs this coroutine as a task
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    run_id = uuid.uuid4().hex[:8]
    bootstrap = broker.bootstrap_servers
    single = benchmark_settings(run_id, bootstrap, workdir, "single", "single")
    batched = benchmark_settings(run_id, bootstrap, workdir, "batched", "batched")

    # Step 1: events and topics.
    logger.info("generating %s events", options.events)
    events = generate_events(options.events, send_start=send_start())
    single_values = [event.value for event in events]
    batched_values = batch_values(events, options.batch_size)
    del events

    async with contextlib.AsyncExitStack() as stack:
        clickhouse = await asyncio.to_thread(ClickHouse, single.clickhouse_dsn)
        stack.callback(clickhouse.close)
        await clickhouse.run(migrate, clickhouse, single.raw_event_retention_days)
        await ensure_topics(single)
        await ensure_topics(batched)

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=PRODUCER_LINGER_MS, acks="all")
        await producer.start()
        stack.push_async_callback(producer.stop)
        produce_seconds = {
            "single": await produce(producer, single.topic_events, single_values),
            "batched": await produce(producer, batched.topic_events, batched_values),
        }

        # Step 2: ceiling.
        ceiling = {}
        for settings, shape in ((single, "single"), (batched, "batched")):
            ceiling[shape] = await measure_ceiling(
                bootstrap, settings.topic_events, f"benchmark-{run_id}-ceiling-{shape}", options.events,
                settings.batch_max_events, shape,
            )
            logger.info("aiokafka ceiling, %s: %.0f events/s", shape, ceiling[shape].events_per_second)

        # Step 3: per-event Faust agent.
        faust_settings = benchmark_settings(run_id, bootstrap, workdir, "single", "faust")
        faust = await measure_faust_agent(faust_settings, clickhouse, producer, single.topic_events, options.events)
        logger.info("Faust per-event agent: %.0f events/s", faust.events_per_second)

        # Step 4: our ingestion, checked in ClickHouse after each run.
        ingestion: dict[str, IngestionRun] = {}
        stored: dict[str, TableCount] = {}
        for settings, shape in ((single, "single"), (batched, "batched")):
            ingestion[shape] = await measure_ingestion(settings, clickhouse, producer, options.events, shape)
            if ingestion[shape].rejected:
                raise BenchmarkError(f"the ingestor rejected {ingestion[shape].rejected} valid {shape} messages")
            stored[shape] = await clickhouse.run(verify_raw_table, clickhouse, options.events, shape)
            await clickhouse.run(empty_tables, clickhouse)
            logger.info("EventIngestor, %s: %.0f events/s", shape, ingestion[shape].measurement.events_per_second)

        # Step 5: stage timings, and the optional profile.
        stages = await asyncio.to_thread(
            time_stages, single, clickhouse, single_values, batched_values, options.batch_size
        )
        await clickhouse.run(empty_tables, clickhouse)
        if options.profile:
            profile_settings = benchmark_settings(run_id, bootstrap, workdir, "single", "profile")
            await profile_ingestion(profile_settings, clickhouse, producer, options.events)

        broker_rss = process_peak_rss_mib(broker.pid) if broker.pid else None

    results = IngestionResults(
        events=options.events,
        events_per_batched_message=options.batch_size,
        partitions=single.topic_partitions,
        batch_max_events=single.batch_max_events,
        batch_max_seconds=single.batch_max_seconds,
        produce_seconds=produce_seconds,
        ceiling_single=ceiling["single"],
        ceiling_batched=ceiling["batched"],
        faust_single=faust,
        ingest_single=ingestion["single"],
        ingest_batched=ingestion["batched"],
        stored=stored,
        stages=stages,
    )
    return results, broker_rss


def run_ingestion(options: Options, workdir: Path) -> tuple[IngestionResults, float | None]:
    """Start the embedded broker, run the ingestion part and stop the broker on every exit path."""
    broker = EmbeddedBroker(free_port(), log_file=workdir / "broker.log")
    try:
        broker.start()
        return asyncio.run(run_benchmark(options, broker, workdir))
    finally:
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    configure_logging("INFO")
    # Outside the event loop, SIGTERM raises KeyboardInterrupt too, so the broker
    # child, which runs in its own session and gets no terminal signals, is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ingestion: IngestionResults | None = None
    broker_rss: float | None = None
    export: ExportResults | None = None
    with tempfile.TemporaryDirectory(prefix="campaign-analytics-benchmark-") as folder:
        workdir = Path(folder)
        try:
            if not options.skip_ingestion:
                ingestion, broker_rss = run_ingestion(options, workdir)
            if not options.skip_export:
                export_folder = workdir / "export"
                export_folder.mkdir()
                export = measure_export_throughput(
                    clickhouse_dsn(workdir), export_folder, options.export_rows, options.export_repeats,
                    send_start(),
                )
        except (BenchmarkError, CampaignAnalyticsError) as exc:
            logger.error("benchmark failed: %s", exc)
            return 1
        except (KeyboardInterrupt, asyncio.CancelledError):
            logger.error("benchmark interrupted; no results written")
            return 130

    page = render(
        ResultsPage(
            command=options.command,
            ingestion=ingestion,
            export=export,
            peak_rss_mib=peak_rss_mib(),
            broker_peak_rss_mib=broker_rss,
            machine=machine_details(),
        )
    )
    options.results.write_text(page)
    print(page)
    logger.info("results written to %s", options.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
