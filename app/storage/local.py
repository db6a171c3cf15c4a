"""Export files in a local folder, downloaded through the API at HMAC-signed, expiring URLs.

A link is ``{api}/api/v1/export-files/{key}?expires={unix seconds}&signature={hex}``,
where the signature is HMAC-SHA256 over the key and the expiry time. The API
checks the signature and the expiry before it looks at the file, and a key
that could leave the export folder (``..``, absolute paths, odd characters) is
never opened, signed or not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid
from pathlib import Path

from app.storage.base import DownloadLink, ExportStorage, ExportStorageError, ObjectWriter

FILES_ROUTE = "/api/v1/export-files/"
# Object keys are ASCII words separated by single slashes, and no segment starts with a dot.
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}){0,7}$", re.ASCII)


class InvalidLink(ExportStorageError):
    """A download link that is expired, signed with another key or altered."""


def is_valid_key(key: str) -> bool:
    return bool(_KEY_PATTERN.match(key))


class LocalFileWriter(ObjectWriter):
    """Writes to a hidden temporary file next to the target and renames it on commit."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        self._file = open(self._partial, "wb")
        self._size = 0
        self._done = False

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise ExportStorageError(f"storage refused the upload: cannot write {self._partial}: {exc}") from exc
        self._size += len(data)

    def commit(self) -> int:
        try:
            self._file.close()
            # The rename is atomic, so a reader sees the old file or the whole new one.
            os.replace(self._partial, self._path)
        except OSError as exc:
            raise ExportStorageError(f"storage refused the upload: cannot store {self._path}: {exc}") from exc
        self._done = True
        return self._size

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._partial.unlink(missing_ok=True)


class LocalStorage(ExportStorage):
    def __init__(self, root: Path, signing_key: bytes, url_expiry_seconds: int) -> None:
        assert signing_key, "the link signing key must not be empty"
        self.root = root.resolve()
        self._signing_key = signing_key
        self._expiry_seconds = url_expiry_seconds

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r})"

    def path_of(self, key: str) -> Path:
        """Return the file of ``key``; raise ExportStorageError for a key that could leave the folder."""
        if not is_valid_key(key):
            raise ExportStorageError(f"invalid object key {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ExportStorageError(f"invalid object key {key!r}")
        return path

    def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        try:
            return LocalFileWriter(self.path_of(key))
        except OSError as exc:
            raise ExportStorageError(f"storage refused the upload: cannot create a file under {self.root}: {exc}") from exc

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def download_link(self, key: str, filename: str, now_ms: int, api_base_url: str) -> DownloadLink:
        # NOTE: the link uses the address the request came to; behind a proxy
        # that rewrites the host, clients get the internal address.
        expires = now_ms // 1000 + self._expiry_seconds
        url = f"{api_base_url.rstrip('/')}{FILES_ROUTE}{key}?expires={expires}&signature={self.signature(key, expires)}"
        return DownloadLink(url, expires * 1000)

    def verify(self, key: str, expires: str, signature: str, now_ms: int) -> Path:
        """Return the file a link points to; raise InvalidLink unless it is signed, unexpired and inside the folder."""
        if not expires.isdecimal() or len(expires) > 12:
            raise InvalidLink("the download link is invalid: expires must be a Unix time in seconds")
        if not hmac.compare_digest(self.signature(key, int(expires)), signature):
            raise InvalidLink("the download link is invalid: its signature does not match; request a new link")
        if int(expires) * 1000 <= now_ms:
            raise InvalidLink("the download link has expired; GET the export again for a new link")
        try:
            return self.path_of(key)
        except ExportStorageError as exc:
            raise InvalidLink(f"the download link is invalid: {exc}") from None

    def object_keys(self, prefix: str) -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".") and relative.startswith(prefix):
                keys.append(relative)
        return sorted(keys)


def load_or_create_signing_key(path: Path) -> bytes:
    """Return the key stored in ``path``, creating a random one (mode 0600) on first use."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex().encode()
    # O_EXCL: when two processes start at once, the second one reads the first one's key.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key
