"""Export storage: S3 (``s3://bucket/prefix``) or a local folder (``file:///path``), behind one interface."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from app.settings import Settings
from app.storage.base import DownloadLink, ExportStorage, ExportStorageError, ObjectWriter
from app.storage.local import LocalStorage, load_or_create_signing_key

__all__ = ["DownloadLink", "ExportStorage", "ExportStorageError", "ObjectWriter", "open_storage"]


def open_storage(settings: Settings) -> ExportStorage:
    """Return the backend EXPORT_STORAGE_URL names (a local folder under DATA_DIR by default)."""
    parts = urlsplit(settings.export_storage)
    if parts.scheme == "s3":
        from app.storage.s3 import S3Storage

        return S3Storage(
            parts.netloc,
            parts.path,
            settings.s3_endpoint_url,
            settings.export_url_expiry_seconds,
            settings.export_part_size_bytes,
            settings.s3_public_endpoint_url,
        )
    if settings.export_signing_key:
        signing_key = settings.export_signing_key.get_secret_value().encode()
    else:
        signing_key = load_or_create_signing_key(settings.data_dir / "export-signing-key")
    return LocalStorage(Path(unquote(parts.path)), signing_key, settings.export_url_expiry_seconds)
