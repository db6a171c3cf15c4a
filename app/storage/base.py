"""The interface every export storage backend implements.

ExportStorageError               (subclass of CampaignAnalyticsError) the store rejected or failed a call;
                                 ``reason`` is a sentence a user can act on
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from app.errors import CampaignAnalyticsError


class ExportStorageError(CampaignAnalyticsError):
    """The export store rejected or failed an upload or a download link."""


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at_ms: int


class ObjectWriter(abc.ABC):
    """Writes one object in pieces; nothing is visible under the key before :meth:`commit`.

    Call :meth:`abort` on any failure: it removes everything written so far
    (a partial file, an unfinished multipart upload). Abort after commit, or
    twice, does nothing.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> int:
        """Make the object visible under its key and return its size in bytes."""

    @abc.abstractmethod
    def abort(self) -> None: ...


class ExportStorage(abc.ABC):
    """A place for export files, addressed by object keys such as ``workspace/export-id.csv``."""

    @abc.abstractmethod
    def open_writer(self, key: str, content_type: str) -> ObjectWriter: ...

    @abc.abstractmethod
    def download_link(self, key: str, filename: str, now_ms: int, api_base_url: str) -> DownloadLink:
        """Return a URL that downloads ``key`` until the link expires.

        ``api_base_url`` is where clients reach the API; backends that serve
        files through the API build their links on it.
        """

    @abc.abstractmethod
    def object_keys(self, prefix: str) -> list[str]:
        """Return the keys of the stored objects under ``prefix``, sorted."""
