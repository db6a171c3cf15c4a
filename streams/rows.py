"""Turn canonical events into the column lists of one ``email_events`` insert.

This is where an event's flags are settled: a provider's machine-open or bot
flag, or a user agent that matches the configured patterns, marks a machine
open or a bot click, and a click whose URL matches the unsubscribe patterns is
marked as an unsubscribe-link click. The recipient address is replaced by a
keyed hash here and goes no further.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.events import EmailEvent

COLUMN_NAMES = (
    "workspace_id",
    "campaign_id",
    "message_id",
    "event_type",
    "occurred_at",
    "event_id",
    "provider",
    "recipient_hash",
    "bounce_type",
    "url",
    "user_agent",
    "is_machine_open",
    "is_bot_click",
    "is_unsubscribe_link",
)


@dataclass(frozen=True)
class Classifier:
    """The patterns that mark machine opens, bot clicks and unsubscribe links."""

    recipient_hash_key: bytes
    unsubscribe_url: re.Pattern[str]
    machine_open_user_agent: re.Pattern[str]
    bot_click_user_agent: re.Pattern[str]

    @classmethod
    def from_patterns(
        cls, recipient_hash_key: str, unsubscribe_url: str, machine_open_user_agent: str, bot_click_user_agent: str
    ) -> Classifier:
        return cls(
            recipient_hash_key.encode(),
            re.compile(unsubscribe_url),
            re.compile(machine_open_user_agent),
            re.compile(bot_click_user_agent),
        )

    def __post_init__(self) -> None:
        # Copying a keyed HMAC skips hashing the key again for every address.
        object.__setattr__(self, "_keyed_hmac", hmac.new(self.recipient_hash_key, digestmod=hashlib.sha256))

    def hash_recipient(self, recipient: str | None) -> str:
        if not recipient:
            return ""
        digest = self._keyed_hmac.copy()  # type: ignore[attr-defined]
        digest.update(recipient.strip().lower().encode())
        return digest.hexdigest()

    def is_machine_open(self, event: EmailEvent) -> bool:
        if event.type != "opened":
            return False
        if event.is_machine_open:
            return True
        return bool(event.user_agent and self.machine_open_user_agent.search(event.user_agent))

    def is_bot_click(self, event: EmailEvent) -> bool:
        if event.type != "clicked":
            return False
        if event.is_bot_click:
            return True
        return bool(event.user_agent and self.bot_click_user_agent.search(event.user_agent))

    def is_unsubscribe_link(self, event: EmailEvent) -> bool:
        return event.type == "clicked" and bool(event.url and self.unsubscribe_url.search(event.url))


def build_columns(events: Iterable[EmailEvent], classifier: Classifier) -> list[list[Any]]:
    """Return one list per column of ``COLUMN_NAMES``, in that order."""
    columns: list[list[Any]] = [[] for _ in COLUMN_NAMES]
    (workspace, campaign, message, kind, occurred, event_id, provider,
     recipient, bounce, url, agent, machine, bot, unsubscribe) = columns
    for event in events:
        workspace.append(event.workspace_id)
        campaign.append(event.campaign_id)
        message.append(event.message_id)
        kind.append(event.type)
        occurred.append(event.occurred_at_ms)
        event_id.append(event.event_id)
        provider.append(event.provider)
        recipient.append(classifier.hash_recipient(event.recipient))
        bounce.append(event.bounce_type or "")
        url.append(event.url or "")
        agent.append(event.user_agent or "")
        machine.append(int(classifier.is_machine_open(event)))
        bot.append(int(classifier.is_bot_click(event)))
        unsubscribe.append(int(classifier.is_unsubscribe_link(event)))
    return columns
