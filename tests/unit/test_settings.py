import traceback
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.errors import CampaignAnalyticsError, ConfigurationError
from app.settings import Settings, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment and an empty working directory, so no ``.env`` is read."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def configuration_error(env: pytest.MonkeyPatch, **variables: str) -> ConfigurationError:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return caught.value


# Reading


def test_settings_defaults(env: pytest.MonkeyPatch):
    settings = load_settings()

    assert settings.kafka_bootstrap_servers is None
    assert settings.embedded_broker is True
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 8000
    assert settings.data_dir == Path("./var")
    assert settings.api_key_map() == {}


def test_settings_from_environment(env: pytest.MonkeyPatch):
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    env.setenv("API_PORT", "9001")
    env.setenv("DATA_DIR", "/srv/analytics")

    settings = load_settings()

    assert settings.embedded_broker is False
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.api_port == 9001
    assert settings.data_dir == Path("/srv/analytics")


def test_settings_blank_servers_mean_embedded(env: pytest.MonkeyPatch):
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "  ")

    assert load_settings().embedded_broker is True


def test_settings_read_dotenv(env: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / ".env").write_text("API_PORT=9123\nLOG_LEVEL=DEBUG\n")

    settings = load_settings()

    assert settings.api_port == 9123
    assert settings.log_level == "DEBUG"


def test_settings_environment_beats_dotenv(env: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / ".env").write_text("API_PORT=9123\n")
    env.setenv("API_PORT", "9124")

    assert load_settings().api_port == 9124


def test_settings_are_frozen(env: pytest.MonkeyPatch):
    settings = load_settings()

    with pytest.raises(ValidationError, match="frozen"):
        settings.api_port = 1  # type: ignore[misc]


# Errors


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_PORT", "http"),
        ("API_PORT", "70000"),
        ("API_PORT", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("BATCH_MAX_EVENTS", "0"),
        ("BATCH_MAX_SECONDS", "-1"),
        ("TOPIC_PARTITIONS", "four"),
        ("RAW_EVENT_RETENTION_DAYS", "0"),
    ],
)
def test_error_names_variable(env: pytest.MonkeyPatch, variable: str, value: str):
    error = configuration_error(env, **{variable: value})

    assert variable in str(error)
    assert isinstance(error, CampaignAnalyticsError)


def test_error_lists_every_problem(env: pytest.MonkeyPatch):
    message = str(configuration_error(env, API_PORT="http", LOG_LEVEL="LOUD"))

    assert "API_PORT" in message
    assert "LOG_LEVEL" in message


def test_error_is_one_line(env: pytest.MonkeyPatch):
    message = str(configuration_error(env, API_PORT="http", LOG_LEVEL="LOUD"))

    assert "\n" not in message
    assert message.startswith("invalid settings")


def test_error_clickhouse_scheme(env: pytest.MonkeyPatch):
    message = str(configuration_error(env, CLICKHOUSE_URL="ftp://reader:pw-9f3k@db.example/analytics"))

    assert "CLICKHOUSE_URL" in message
    assert "chdb://" in message
    assert "pw-9f3k" not in message


def test_error_traceback_hides_secrets(env: pytest.MonkeyPatch):
    error = configuration_error(env, CLICKHOUSE_URL="ftp://u:pw-9f3k@h/x", API_KEYS="ws1:key-7d2q")

    logged = "".join(traceback.format_exception(error))

    assert "pw-9f3k" not in logged
    assert "key-7d2q" not in logged


# API keys


def test_api_keys_pairs(env: pytest.MonkeyPatch):
    env.setenv("API_KEYS", "ws-1:key-one, ws-2:key-two,")

    assert load_settings().api_key_map() == {"key-one": "ws-1", "key-two": "ws-2"}


def test_api_keys_several_per_workspace(env: pytest.MonkeyPatch):
    env.setenv("API_KEYS", "ws-1:key-one,ws-1:key-two")

    assert load_settings().api_key_map() == {"key-one": "ws-1", "key-two": "ws-1"}


def test_api_keys_file(env: pytest.MonkeyPatch, tmp_path: Path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("ws-1:key-one\nws-2:key-two\n\n")
    env.setenv("API_KEYS_FILE", str(keys_file))
    env.setenv("API_KEYS", "ws-3:key-three")

    assert load_settings().api_key_map() == {"key-one": "ws-1", "key-two": "ws-2", "key-three": "ws-3"}


def test_api_keys_file_missing(env: pytest.MonkeyPatch, tmp_path: Path):
    env.setenv("API_KEYS_FILE", str(tmp_path / "absent.txt"))

    with pytest.raises(ConfigurationError, match="API_KEYS_FILE"):
        load_settings().api_key_map()


@pytest.mark.parametrize("entry", ["key-only", ":key-one", "ws-1:", "ws-1:key-one,broken"])
def test_api_keys_malformed(env: pytest.MonkeyPatch, entry: str):
    env.setenv("API_KEYS", entry)
    settings = load_settings()

    with pytest.raises(ConfigurationError) as caught:
        settings.api_key_map()

    assert "API_KEYS" in str(caught.value)
    assert "workspace_id:key" in str(caught.value)


def test_api_keys_error_hides_keys(env: pytest.MonkeyPatch):
    env.setenv("API_KEYS", "ws-1:key-one,secret-without-workspace")
    settings = load_settings()

    with pytest.raises(ConfigurationError) as caught:
        settings.api_key_map()

    assert "key-one" not in str(caught.value)
    assert "secret-without-workspace" not in str(caught.value)


def test_api_keys_key_in_two_workspaces(env: pytest.MonkeyPatch):
    env.setenv("API_KEYS", "ws-1:shared-key,ws-2:shared-key")
    settings = load_settings()

    with pytest.raises(ConfigurationError):
        settings.api_key_map()


# Secrets


def test_repr_hides_secrets(env: pytest.MonkeyPatch):
    env.setenv("API_KEYS", "ws-1:key-4kq9")
    env.setenv("RECIPIENT_HASH_KEY", "hash-key-8v2m")
    env.setenv("CLICKHOUSE_URL", "https://analytics:pw-9f3k@clickhouse.example:8443/events")

    settings = load_settings()

    for text in (repr(settings), str(settings)):
        assert "key-4kq9" not in text
        assert "hash-key-8v2m" not in text
        assert "pw-9f3k" not in text


def test_secrets_still_readable(env: pytest.MonkeyPatch):
    env.setenv("RECIPIENT_HASH_KEY", "hash-key-8v2m")
    env.setenv("CLICKHOUSE_URL", "https://analytics:pw-9f3k@clickhouse.example:8443/events")

    settings = load_settings()

    assert settings.recipient_hash_key.get_secret_value() == "hash-key-8v2m"
    assert settings.clickhouse_dsn == "https://analytics:pw-9f3k@clickhouse.example:8443/events"
