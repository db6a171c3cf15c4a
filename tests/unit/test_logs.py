"""The JSON log format: ids of a log call become fields of their own."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter


def formatted(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("streams.ingest", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_json_named_placeholders_become_fields():
    entry = formatted("rejected: topic=%s partition=%s offset=%s reason=%s", "email-events", 3, 1017, "invalid_json")

    assert entry["message"] == "rejected: topic=email-events partition=3 offset=1017 reason=invalid_json"
    assert entry["topic"] == "email-events"
    assert entry["partition"] == 3
    assert entry["offset"] == 1017
    assert entry["reason"] == "invalid_json"


def test_json_unnamed_placeholders_skipped():
    # The second placeholder is named, the first and third are not; positions must still line up.
    entry = formatted("insert of %s events failed: group=%s retrying in %.1f s", 20, "g-1", 0.5)

    assert entry["group"] == "g-1"
    assert "events" not in entry


def test_json_percent_escape():
    entry = formatted("100%% done: export_id=%s", "e-1")

    assert entry["message"] == "100% done: export_id=e-1"
    assert entry["export_id"] == "e-1"


def test_json_extra_context():
    entry = formatted("export finished", export_id="e-7", workspace_id="acme")

    assert entry["export_id"] == "e-7"
    assert entry["workspace_id"] == "acme"


def test_json_keeps_standard_fields():
    # A placeholder named like a standard field never replaces it.
    entry = formatted("level=%s", "custom")

    assert entry["level"] == "WARNING"
    assert entry["logger"] == "streams.ingest"


def test_json_non_scalar_values_as_text():
    entry = formatted("assigned: partition=%s", [0, 1])

    assert entry["partition"] == "[0, 1]"
