"""The ``campaign-analytics lag`` command: consumer lag per group, topic and partition.

It prints a table (or with ``--json`` the ``data`` object that ``GET /api/v1/ops/lag``
returns) and exits with :data:`EXIT_LAGGING` when a partition is past
``--max-lag`` or ``--max-age``, so cron jobs and probes can use it as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiokafka.errors import KafkaError

from app.errors import BrokerError
from app.lag import LagReader
from app.lag_monitor import LagSnapshot, monitored_group_topics
from app.settings import Settings

EXIT_OK = 0
EXIT_LAGGING = 3
DEFAULT_TIMEOUT_SECONDS = 10.0
NO_VALUE = "-"


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-lag", type=_non_negative_int, metavar="MESSAGES",
        help=f"exit with status {EXIT_LAGGING} when any partition lags by more than MESSAGES messages",
    )
    parser.add_argument(
        "--max-age", type=_non_negative_float, metavar="SECONDS",
        help=f"exit with status {EXIT_LAGGING} when any partition's oldest unprocessed message is older "
        "than SECONDS (from its Kafka timestamp)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--timeout", type=_positive_float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
        help=f"give up when Kafka does not respond within SECONDS (default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    snapshot = asyncio.run(measure(settings, args.timeout))
    if args.json:
        print(json.dumps(snapshot.as_dict(), indent=2))
    else:
        print(format_table(snapshot))

    problems = threshold_violations(snapshot, args.max_lag, args.max_age)
    for problem in problems:
        print(f"lag past threshold: {problem}", file=sys.stderr)
    return EXIT_LAGGING if problems else EXIT_OK


async def measure(settings: Settings, timeout: float) -> LagSnapshot:
    """Measure the lag of every monitored group now; raise BrokerError when Kafka does not respond."""
    try:
        async with asyncio.timeout(timeout):
            async with LagReader(settings.bootstrap_servers) as reader:
                partitions = await reader.read(monitored_group_topics(settings))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BrokerError(
            f"cannot read consumer lag from Kafka at {settings.bootstrap_servers} within {timeout:.0f} s: {exc!r}; "
            "check KAFKA_BOOTSTRAP_SERVERS"
        ) from exc
    return LagSnapshot(time.time(), tuple(partitions))


def threshold_violations(snapshot: LagSnapshot, max_lag: int | None, max_age: float | None) -> list[str]:
    """Describe each partition past ``max_lag`` messages or ``max_age`` seconds; None disables a bound."""
    problems = []
    for p in snapshot.partitions:
        where = f"group={p.group} topic={p.topic} partition={p.partition}"
        if max_lag is not None and p.lag > max_lag:
            problems.append(f"{where} lag={p.lag} > {max_lag}")
        age = p.oldest_age_seconds(snapshot.measured_at)
        if max_age is not None and age is not None and age > max_age:
            problems.append(f"{where} oldest_age={age:.1f}s > {max_age:g}s")
    return problems


def format_table(snapshot: LagSnapshot) -> str:
    """Return an aligned text table; a partition without a commit shows ``-`` as committed offset."""
    header = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OLDEST_AGE_S")
    rows = [header]
    for p in snapshot.partitions:
        age = p.oldest_age_seconds(snapshot.measured_at)
        rows.append((
            p.group,
            p.topic,
            str(p.partition),
            NO_VALUE if p.committed is None else str(p.committed),
            str(p.end),
            str(p.lag),
            NO_VALUE if age is None else f"{age:.1f}",
        ))
    if len(rows) == 1:
        return "no partitions: the topics do not exist yet"

    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    # Text columns align left, numbers right.
    numeric = {2, 3, 4, 5, 6}
    lines = [
        "  ".join(cell.rjust(width) if column in numeric else cell.ljust(width)
                  for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    lines.append(f"total lag: {snapshot.total()} messages")
    return "\n".join(lines)
