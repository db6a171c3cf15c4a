import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings, load_settings
from streams.events import EmailEvent, parse_canonical
from streams.ingest import classifier_from_settings
from streams.rows import COLUMN_NAMES, Classifier, build_columns

# 2024-01-01T00:00:00Z is 19723 days after the epoch: 19723 * 86400 = 1_704_067_200 seconds.
NEW_YEAR_2024_MS = 1_704_067_200_000
CHROME_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE_MAIL_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
UNSUBSCRIBE_URL = "https://news.example.com/unsubscribe?u=3"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The default settings, unaffected by the environment or a ``.env`` in the working directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return load_settings()


@pytest.fixture
def classifier(settings: Settings) -> Classifier:
    return classifier_from_settings(settings)


def make_event(event_type: str = "opened", **fields: Any) -> EmailEvent:
    data: dict[str, Any] = {
        "event_id": "evt-1",
        "type": event_type,
        "occurred_at": NEW_YEAR_2024_MS,
        "workspace_id": "ws-1",
        "campaign_id": "cmp-1",
        "message_id": "msg-1",
    }
    data.update(fields)
    return parse_canonical(data)


def expected_hash(settings: Settings, address: str) -> str:
    key = settings.recipient_hash_key.get_secret_value().encode()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()


def column(columns: list[list[Any]], name: str) -> list[Any]:
    return columns[COLUMN_NAMES.index(name)]


# Recipient hashing


def test_recipient_hash_is_hmac_sha256(classifier: Classifier, settings: Settings):
    assert classifier.hash_recipient("ana@example.com") == expected_hash(settings, "ana@example.com")


def test_recipient_hash_ignores_case_and_spaces(classifier: Classifier, settings: Settings):
    assert classifier.hash_recipient("  Ana@Example.COM ") == expected_hash(settings, "ana@example.com")


def test_recipient_hash_depends_on_key(settings: Settings):
    default = classifier_from_settings(settings)
    other = classifier_from_settings(load_settings(recipient_hash_key="another-key"))

    assert default.hash_recipient("ana@example.com") != other.hash_recipient("ana@example.com")


@pytest.mark.parametrize("recipient", [None, ""])
def test_recipient_hash_empty(classifier: Classifier, recipient: str | None):
    assert classifier.hash_recipient(recipient) == ""


def test_columns_never_hold_raw_recipient(classifier: Classifier, settings: Settings):
    address = "Ana.Lopez@Example.com"
    columns = build_columns([make_event(recipient=address)], classifier)

    assert column(columns, "recipient_hash") == [expected_hash(settings, "ana.lopez@example.com")]
    for values in columns:
        for value in values:
            assert "ana.lopez" not in str(value).lower()


# Machine opens


def test_machine_open_by_flag(classifier: Classifier):
    assert classifier.is_machine_open(make_event("opened", is_machine_open=True)) is True


def test_machine_open_bare_mozilla(classifier: Classifier):
    # Apple Mail Privacy Protection fetches images with exactly this user agent.
    assert classifier.is_machine_open(make_event("opened", user_agent="Mozilla/5.0")) is True


@pytest.mark.parametrize(
    "user_agent", [CHROME_USER_AGENT, IPHONE_MAIL_USER_AGENT, "Mozilla/5.01", "Mozilla/4.0"]
)
def test_machine_open_browser_is_human(classifier: Classifier, user_agent: str):
    assert classifier.is_machine_open(make_event("opened", user_agent=user_agent)) is False


@pytest.mark.parametrize(
    "user_agent", ["Barracuda Networks Image Proxy", "Mimecast/1.0", "Proofpoint-URL-Defense"]
)
def test_machine_open_security_gateway(classifier: Classifier, user_agent: str):
    assert classifier.is_machine_open(make_event("opened", user_agent=user_agent)) is True


def test_machine_open_without_user_agent(classifier: Classifier):
    assert classifier.is_machine_open(make_event("opened")) is False


# Bot clicks


def test_bot_click_by_flag(classifier: Classifier):
    event = make_event("clicked", is_bot_click=True, user_agent=CHROME_USER_AGENT)

    assert classifier.is_bot_click(event) is True


@pytest.mark.parametrize(
    "user_agent",
    [
        "python-requests/2.31.0",
        "curl/8.5.0",
        "Go-http-client/1.1",
        "Mozilla/5.0 (compatible; Googlebot/2.1)",
        "Barracuda",
    ],
)
def test_bot_click_by_user_agent(classifier: Classifier, user_agent: str):
    assert classifier.is_bot_click(make_event("clicked", user_agent=user_agent)) is True


@pytest.mark.parametrize("user_agent", [CHROME_USER_AGENT, IPHONE_MAIL_USER_AGENT, None])
def test_bot_click_browser_is_human(classifier: Classifier, user_agent: str | None):
    assert classifier.is_bot_click(make_event("clicked", user_agent=user_agent)) is False


# Unsubscribe links


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.com/unsubscribe?u=42",
        "https://news.example.com/UNSUBSCRIBE/42",
        "https://news.example.com/unsub/42",
        "https://news.example.com/opt-out?id=1",
        "https://news.example.com/optout",
        "https://news.example.com/preferences?u=42",
        "https://example.us1.list-manage.com/unsubscribe?u=1&id=2",
    ],
)
def test_unsubscribe_link(classifier: Classifier, url: str):
    assert classifier.is_unsubscribe_link(make_event("clicked", url=url)) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/products/42",
        "https://news.example.com/subscribe",
        "https://unsubtle.example/",
        None,
    ],
)
def test_ordinary_link(classifier: Classifier, url: str | None):
    assert classifier.is_unsubscribe_link(make_event("clicked", url=url)) is False


# Flags apply only to their event type


@pytest.mark.parametrize(
    "event_type",
    ["sent", "delivered", "deferred", "bounced", "opened", "replied", "spam_complaint", "unsubscribed"],
)
def test_non_click_never_click_flagged(classifier: Classifier, event_type: str):
    event = make_event(
        event_type, is_bot_click=True, user_agent="python-requests/2.31.0", url=UNSUBSCRIBE_URL
    )

    assert classifier.is_bot_click(event) is False
    assert classifier.is_unsubscribe_link(event) is False


@pytest.mark.parametrize(
    "event_type",
    ["sent", "delivered", "deferred", "bounced", "clicked", "replied", "spam_complaint", "unsubscribed"],
)
def test_non_open_never_machine_open(classifier: Classifier, event_type: str):
    event = make_event(event_type, is_machine_open=True, user_agent="Mozilla/5.0")

    assert classifier.is_machine_open(event) is False


# build_columns


def test_columns_follow_column_names(classifier: Classifier, settings: Settings):
    events = [
        make_event(
            "clicked",
            message_id="msg-1",
            recipient="ana@example.com",
            url="https://shop.example.com/p/1",
            user_agent="curl/8.5.0",
            provider="sendgrid",
        ),
        make_event(
            "opened",
            message_id="msg-2",
            event_id="evt-2",
            occurred_at=NEW_YEAR_2024_MS + 1,
            user_agent="Mozilla/5.0",
        ),
        make_event("clicked", message_id="msg-3", event_id="evt-3", url=UNSUBSCRIBE_URL),
        make_event("bounced", message_id="msg-4", event_id="evt-4", bounce_type="hard"),
    ]

    columns = build_columns(events, classifier)

    assert len(columns) == len(COLUMN_NAMES)
    assert column(columns, "workspace_id") == ["ws-1"] * 4
    assert column(columns, "campaign_id") == ["cmp-1"] * 4
    assert column(columns, "message_id") == ["msg-1", "msg-2", "msg-3", "msg-4"]
    assert column(columns, "event_type") == ["clicked", "opened", "clicked", "bounced"]
    assert column(columns, "occurred_at") == [
        NEW_YEAR_2024_MS, NEW_YEAR_2024_MS + 1, NEW_YEAR_2024_MS, NEW_YEAR_2024_MS
    ]
    assert column(columns, "event_id") == ["evt-1", "evt-2", "evt-3", "evt-4"]
    assert column(columns, "provider") == ["sendgrid", "", "", ""]
    assert column(columns, "recipient_hash") == [expected_hash(settings, "ana@example.com"), "", "", ""]
    assert column(columns, "bounce_type") == ["", "", "", "hard"]
    assert column(columns, "url") == ["https://shop.example.com/p/1", "", UNSUBSCRIBE_URL, ""]
    assert column(columns, "user_agent") == ["curl/8.5.0", "Mozilla/5.0", "", ""]
    assert column(columns, "is_machine_open") == [0, 1, 0, 0]
    assert column(columns, "is_bot_click") == [1, 0, 0, 0]
    assert column(columns, "is_unsubscribe_link") == [0, 0, 1, 0]


def test_columns_empty_batch(classifier: Classifier):
    assert build_columns([], classifier) == [[] for _ in COLUMN_NAMES]
