"""The results page of the benchmark, rendered as Markdown: ingestion, export and the machine."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.export_report import export_sections
from benchmarks.export_throughput import ExportResults
from benchmarks.ingestion import IngestionRun, TableCount
from benchmarks.measurement import Measurement
from benchmarks.stages import StageTime

# Ingestion of one event per message must beat the per-event Faust design by
# this factor, and ingestion of batched messages must reach this share of what
# a consumer that only parses JSON can read.
SINGLE_VERSUS_FAUST_TARGET = 3.0
BATCHED_VERSUS_CEILING_TARGET = 1 / 3


@dataclass(frozen=True)
class IngestionResults:
    events: int
    events_per_batched_message: int
    partitions: int
    batch_max_events: int
    batch_max_seconds: float
    produce_seconds: dict[str, float]
    """Seconds to produce each topic, by shape ("single", "batched"), acknowledgements included."""
    ceiling_single: Measurement
    ceiling_batched: Measurement
    faust_single: Measurement
    ingest_single: IngestionRun
    ingest_batched: IngestionRun
    stored: dict[str, TableCount]
    stages: list[StageTime]

    @property
    def single_versus_faust(self) -> float:
        return self.ingest_single.measurement.events_per_second / self.faust_single.events_per_second

    @property
    def batched_versus_ceiling(self) -> float:
        return self.ingest_batched.measurement.events_per_second / self.ceiling_batched.events_per_second


def _verdict(value: float, target: float) -> str:
    return "PASS" if value >= target else "MISS"


def _throughput_rows(results: IngestionResults) -> list[str]:
    runs = [
        results.ceiling_single,
        results.ceiling_batched,
        results.faust_single,
        results.ingest_single.measurement,
        results.ingest_batched.measurement,
    ]
    rows = [
        "| consumer | message shape | messages | events | seconds | events/s | peak RSS so far (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        rows.append(
            f"| {run.name} | {run.shape} | {run.messages:,} | {run.events:,} | {run.seconds:.2f} "
            f"| {run.events_per_second:,.0f} | {run.peak_rss_mib:,.0f} |"
        )
    return rows


def _target_rows(results: IngestionResults) -> list[str]:
    single = results.single_versus_faust
    batched = results.batched_versus_ceiling
    return [
        "| comparison | ratio | target | result |",
        "|---|---:|---:|---|",
        f"| EventIngestor, single / Faust per-event agent | {single:.2f}x | at least "
        f"{SINGLE_VERSUS_FAUST_TARGET:.0f}x | {_verdict(single, SINGLE_VERSUS_FAUST_TARGET)} |",
        f"| EventIngestor, batched / aiokafka ceiling, batched | {batched:.2f} | at least "
        f"{BATCHED_VERSUS_CEILING_TARGET:.2f} | {_verdict(batched, BATCHED_VERSUS_CEILING_TARGET)} |",
    ]


def _in_run_rows(results: IngestionResults) -> list[str]:
    rows = [
        "| run | batches | mean events per batch | largest batch | measured seconds "
        "| build_columns + insert seconds | share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in (results.ingest_single, results.ingest_batched):
        seconds = run.measurement.seconds
        rows.append(
            f"| {run.measurement.shape} | {run.batches} | {run.mean_batch_events:,.0f} | {run.max_batch_events:,} "
            f"| {seconds:.2f} "
            f"| {run.insert_seconds:.2f} | {run.insert_seconds / seconds:.0%} |"
        )
    return rows


def _stage_rows(results: IngestionResults) -> list[str]:
    rows = ["| stage | µs per event | events/s on its own |", "|---|---:|---:|"]
    for stage in results.stages:
        rows.append(f"| {stage.stage} | {stage.microseconds_per_event:.1f} | {stage.events_per_second:,.0f} |")
    return rows


def _stored_rows(results: IngestionResults) -> list[str]:
    rows = ["| run | rows in email_events | distinct event keys | events produced |", "|---|---:|---:|---:|"]
    for shape, count in results.stored.items():
        rows.append(f"| {shape} | {count.rows:,} | {count.distinct_event_keys:,} | {results.events:,} |")
    return rows


@dataclass(frozen=True)
class ResultsPage:
    """Everything one run measured; a part that was skipped is None."""

    command: str
    ingestion: IngestionResults | None
    export: ExportResults | None
    peak_rss_mib: float
    broker_peak_rss_mib: float | None
    machine: list[tuple[str, str]]


def ingestion_sections(results: IngestionResults) -> list[str]:
    """Return the lines of the ingestion section, headed ``## Ingestion``."""
    produce = ", ".join(f"{shape} {seconds:.1f} s" for shape, seconds in results.produce_seconds.items())
    return [
        "## Ingestion",
        "",
        f"{results.events:,} canonical events went to two topics of {results.partitions} partitions each on the "
        "embedded broker: one event per message (*single*), and the same events as JSON arrays of "
        f"{results.events_per_batched_message} events per message (*batched*). Each consumer below read "
        "a topic from the start in a new consumer group, one after the other, in one process.",
        "",
        "### Throughput",
        "",
        *_throughput_rows(results),
        "",
        "### Targets",
        "",
        *_target_rows(results),
        "",
        "### Where ingestion spends its time",
        "",
        "During the measured runs (`on_batch` reports build_columns plus the insert as one figure; "
        "the rest of the measured time is fetching, decoding and committing):",
        "",
        *_in_run_rows(results),
        "",
        "Each stage timed on its own over the same events, outside the event loop and without Kafka:",
        "",
        *_stage_rows(results),
        "",
        "### Stored rows",
        "",
        "Counted in ClickHouse after each ingestion run; the tables were emptied between runs.",
        "",
        *_stored_rows(results),
        "",
        "### Method",
        "",
        "- Events: a seeded synthetic stream of about 20 campaigns in three workspaces; each message has "
        "its own lifecycle (sent, delivered or bounced, opens including privacy prefetches, clicks, "
        "unsubscribes), UUID ids and ISO 8601 times with milliseconds. Every event's content is unique.",
        f"- Producing took {produce} (aiokafka, acks=all); it is not part of any measured figure.",
        "- Clock: each run starts at its first non-empty fetch (for Faust, the first event its agent "
        "receives) and stops when its last event is done; group joins come before, so they are excluded. "
        "events/s is events over that span.",
        "- aiokafka ceiling: a plain consumer that parses every value with orjson and counts the events "
        "(the array length for batched messages), with the same fetch sizes as EventIngestor.",
        "- Faust per-event agent: `async for value in stream` with orjson parsing and no I/O, in an app "
        "built by `create_faust_app`, so it has the product's broker settings.",
        f"- EventIngestor: the product's class unchanged, with its default batches of at most "
        f"{results.batch_max_events:,} events or {results.batch_max_seconds:g} s, writing to chDB in a "
        "temporary folder; a run ends when it has inserted every event.",
        "- Broker, consumers and chDB share the machine's cores, so the numbers are for this machine only.",
        "",
    ]


def _skipped(title: str, option: str) -> list[str]:
    return [f"## {title}", "", f"Not run (`{option}`).", ""]


def render(page: ResultsPage) -> str:
    """Return the whole results page."""
    if page.broker_peak_rss_mib is not None:
        broker_rss = f"{page.broker_peak_rss_mib:,.0f} MiB"
    elif page.ingestion is None:
        broker_rss = "no broker (ingestion not run)"
    else:
        broker_rss = "not available"
    lines = [
        "# Benchmark results",
        "",
        "This page is written by `benchmarks/run.py` (run it with `make bench`); edits are overwritten.",
        "",
        f"Command: `{page.command}`",
        "",
        *(ingestion_sections(page.ingestion) if page.ingestion else _skipped("Ingestion", "--skip-ingestion")),
        *(export_sections(page.export) if page.export else _skipped("Export", "--skip-export")),
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in page.machine),
        f"| peak RSS of the benchmark process | {page.peak_rss_mib:,.0f} MiB |",
        f"| peak RSS of the broker process | {broker_rss} |",
        "",
    ]
    return "\n".join(lines)
