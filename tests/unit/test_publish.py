"""Keys and file reading of the replay command."""

from __future__ import annotations

import gzip

import orjson

from app.publish import message_key, read_lines

CANONICAL = {
    "type": "opened", "occurred_at": "2026-11-02T10:00:00Z", "workspace_id": "w", "campaign_id": "c",
    "message_id": "m-1",
}


def test_key_of_canonical_event():
    assert message_key(orjson.dumps(CANONICAL)) == b"m-1"


def test_key_of_envelope_is_first_message():
    envelope = {
        "provider": "sendgrid",
        "payload": [
            {"event": "open", "timestamp": 1_762_077_600, "sg_message_id": "sg-1", "campaign_id": "c",
             "workspace_id": "w", "email": "a@example.com"},
            {"event": "open", "timestamp": 1_762_077_600, "sg_message_id": "sg-2", "campaign_id": "c",
             "workspace_id": "w", "email": "b@example.com"},
        ],
    }
    assert message_key(orjson.dumps(envelope)) == b"sg-1"


def test_key_of_malformed_line_is_none():
    assert message_key(b"not json") is None
    assert message_key(orjson.dumps({"type": "opened"})) is None


def test_read_lines_skips_blank_lines(tmp_path):
    plain = tmp_path / "events.ndjson"
    plain.write_bytes(b'{"a": 1}\n\n  \n{"b": 2}\n')
    compressed = tmp_path / "events.ndjson.gz"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))

    assert list(read_lines(plain)) == [b'{"a": 1}', b'{"b": 2}']
    assert list(read_lines(compressed)) == [b'{"a": 1}', b'{"b": 2}']
