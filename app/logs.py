"""Logging setup: plain text by default, one JSON object per line with LOG_FORMAT=json."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from typing import Any

_QUIET_LIBRARIES = ("aiokafka", "faust", "mode", "kafka", "uvicorn.access", "clickhouse_connect", "botocore")


# Ids an operator filters on. A log call passes them with extra={...}, or
# writes them into its message as name=%s, which the JSON formatter also reads.
CONTEXT_FIELDS = ("step", "group", "topic", "partition", "offset", "offsets", "campaign_id", "workspace_id", "export_id")

# A printf placeholder, optionally preceded by "name=".
_PLACEHOLDER = re.compile(r"(?:(\w+)=)?%(?:\(\w+\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


@functools.lru_cache(maxsize=1024)
def _named_positions(message_format: str) -> tuple[tuple[int, str], ...]:
    """Return ``(argument index, name)`` for each ``name=%s`` placeholder of a format string."""
    named = []
    index = 0
    for match in _PLACEHOLDER.finditer(message_format):
        if match.group(0).endswith("%%"):
            continue
        if match.group(1):
            named.append((index, match.group(1)))
        index += 1
    return tuple(named)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ids of the log call as fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if isinstance(record.msg, str) and isinstance(record.args, tuple):
            for index, name in _named_positions(record.msg):
                if index < len(record.args):
                    entry.setdefault(name, _plain(record.args[index]))
        for name in CONTEXT_FIELDS:
            if name in record.__dict__:
                entry[name] = _plain(record.__dict__[name])
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def configure_logging(level: str, json_format: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO (group joins, fetch sessions) would bury our lifecycle lines.
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
