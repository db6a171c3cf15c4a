"""Campaign and workspace ids carried in a provider's custom metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.events import InvalidEvent


@dataclass(frozen=True, slots=True)
class MetadataKeys:
    """Metadata key names under which senders put the campaign and workspace ids."""

    campaign_id: str = "campaign_id"
    workspace_id: str = "workspace_id"


def read_campaign_ids(metadata: Mapping[str, Any] | None, keys: MetadataKeys, source: str) -> dict[str, Any]:
    """Return the canonical ``campaign_id`` and ``workspace_id`` fields found in ``metadata``.

    ``source`` names the provider's metadata place in the error message, for example
    "custom argument". The values are returned unchecked: ``parse_canonical`` validates them.
    Raises InvalidEvent("missing_field") naming the key when a value is absent or empty.
    """
    ids: dict[str, Any] = {}
    for field, key in (("campaign_id", keys.campaign_id), ("workspace_id", keys.workspace_id)):
        value = None if metadata is None else metadata.get(key)
        if value is None or value == "":
            label = repr(key) if key == field else f"{key!r} ({field})"
            raise InvalidEvent("missing_field", f"required {source} {label} is missing")
        ids[field] = value
    return ids
