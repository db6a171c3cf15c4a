"""Presigned links point at the public S3 endpoint when one is set."""

from __future__ import annotations

import pytest

from app.storage.s3 import S3Storage

PART_SIZE = 5 * 1024 * 1024


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Signing is local computation; these example credentials never reach a server.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "example-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_link_uses_public_endpoint():
    storage = S3Storage("exports", "p", "http://minio:9000", 3600, PART_SIZE, "http://localhost:9000")
    link = storage.download_link("w/e.csv", "e.csv", now_ms=0, api_base_url="http://api/")
    assert link.url.startswith("http://localhost:9000/exports/p/w/e.csv?")


def test_link_defaults_to_service_endpoint():
    storage = S3Storage("exports", "p", "http://minio:9000", 3600, PART_SIZE)
    link = storage.download_link("w/e.csv", "e.csv", now_ms=0, api_base_url="http://api/")
    assert link.url.startswith("http://minio:9000/exports/p/w/e.csv?")
