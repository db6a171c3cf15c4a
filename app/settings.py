"""The one typed settings object, read once from the environment and an optional ``.env``.

Nothing else in the code base reads ``os.environ``. Secrets (API keys, the
recipient hashing key, passwords in URLs) are kept out of ``repr`` and logs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigurationError

DEFAULT_UNSUBSCRIBE_PATTERNS = r"(?i)(/unsubscribe|/unsub\b|/opt-?out|/preferences|manage[-_]?preferences|list-manage\.com/unsubscribe)"
# Apple Mail Privacy Protection prefetches with a bare "Mozilla/5.0"; the others are mail security gateways.
DEFAULT_MACHINE_OPEN_USER_AGENTS = r"(?i)(^Mozilla/5\.0$|Barracuda|Mimecast|Proofpoint)"
DEFAULT_BOT_CLICK_USER_AGENTS = r"(?i)(bot|crawler|spider|scanner|Barracuda|Proofpoint|Mimecast|urldefense|safelinks|python-requests|curl/|Go-http-client)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka servers, comma-separated; unset starts the embedded broker"
    )
    embedded_broker_port: int = Field(default=9092, ge=1, le=65535)
    kafka_group_session_timeout_ms: int = Field(
        default=6000,
        ge=1000,
        description="Consumer group session timeout. A group's first join waits about half of it",
    )
    topic_events: str = "email-events"
    topic_events_dlq: str = "email-events-dlq"
    topic_campaign_updates: str = "campaign-updates"
    topic_export_requests: str = "analytics-export-requests"
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    consumer_group: str = "campaign-analytics"

    clickhouse_url: SecretStr | None = Field(
        default=None, description="http(s)://user:password@host:8123/database or chdb:///path"
    )
    raw_event_retention_days: int = Field(default=400, ge=1)
    clickhouse_cluster: str | None = Field(
        default=None,
        description="Name of a ClickHouse cluster (remote_servers) for Replicated and Distributed tables; "
        "unset: single-node tables",
    )

    export_storage_url: str | None = Field(
        default=None, description="s3://bucket/prefix or file:///path; unset means DATA_DIR/exports"
    )
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint that download links point at; unset: S3_ENDPOINT_URL"
    )
    export_url_expiry_seconds: int = Field(
        default=3600,
        ge=60,
        # SigV4 presigned URLs cannot live longer than seven days.
        le=7 * 24 * 3600,
        description="Lifetime of a download URL",
    )
    export_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of local download links; unset: a random key kept in DATA_DIR/export-signing-key",
    )
    export_part_size_bytes: int = Field(
        default=8 * 1024 * 1024,
        # S3 rejects multipart parts smaller than 5 MiB, except the last one.
        ge=5 * 1024 * 1024,
        le=5 * 1024 * 1024 * 1024,
        description="Size of one multipart upload part",
    )
    export_lease_seconds: float = Field(
        default=60.0, ge=1, description="A worker that has not renewed its lease on a job for this long is presumed dead"
    )
    export_max_attempts: int = Field(default=3, ge=1, description="Runs of one export before it is marked failed")
    export_queue_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="An export no worker has started within this time is marked failed"
    )
    export_concurrency: int = Field(default=2, ge=1, le=64, description="Exports one worker runs at the same time")

    api_keys: SecretStr | None = Field(default=None, description="workspace_id:key pairs, comma-separated")
    api_keys_file: Path | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    data_dir: Path = Path("./var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    operator_api_keys: SecretStr | None = Field(
        default=None, description="Bearer keys of the operator endpoints (/api/v1/ops/...), comma-separated"
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="Port of the worker's /metrics, /healthz and /readyz server; 0 turns the server off",
    )
    lag_refresh_seconds: float = Field(default=5.0, gt=0, description="Seconds between consumer lag measurements")
    shutdown_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A shutdown still running after this many seconds exits at once"
    )

    batch_max_events: int = Field(default=20_000, ge=1, description="Events per ClickHouse insert, at most")
    batch_max_seconds: float = Field(default=0.5, gt=0, description="Seconds a batch waits to fill, at most")
    insert_retry_max_seconds: float = Field(default=30.0, gt=0, description="Cap of the insert retry backoff")

    metadata_campaign_key: str = "campaign_id"
    metadata_workspace_key: str = "workspace_id"
    recipient_hash_key: SecretStr = Field(
        default=SecretStr("campaign-analytics-default-recipient-key"),
        description="HMAC key for recipient hashes; set your own in production",
    )
    unsubscribe_url_pattern: str = DEFAULT_UNSUBSCRIBE_PATTERNS
    machine_open_user_agent_pattern: str = DEFAULT_MACHINE_OPEN_USER_AGENTS
    bot_click_user_agent_pattern: str = DEFAULT_BOT_CLICK_USER_AGENTS
    bot_click_window_seconds: float = Field(
        default=2.0, ge=0, description="Clicks this soon after delivery are link-scanner clicks"
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _blank_servers_mean_embedded(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _check_urls(self) -> Settings:
        url = self.clickhouse_url.get_secret_value() if self.clickhouse_url else None
        if url and urlsplit(url).scheme not in ("http", "https", "chdb"):
            raise ValueError("CLICKHOUSE_URL must start with http://, https:// or chdb://")
        if self.export_storage_url:
            parts = urlsplit(self.export_storage_url)
            if parts.scheme not in ("s3", "file"):
                raise ValueError("EXPORT_STORAGE_URL must start with s3:// (s3://bucket/prefix) or file:// (file:///path)")
            if parts.scheme == "s3" and not parts.netloc:
                raise ValueError("EXPORT_STORAGE_URL s3:// needs a bucket name: s3://bucket/prefix")
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        return f"127.0.0.1:{self.embedded_broker_port}"

    @property
    def clickhouse_dsn(self) -> str:
        if self.clickhouse_url:
            return self.clickhouse_url.get_secret_value()
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def export_storage(self) -> str:
        """EXPORT_STORAGE_URL, or ``file://`` of ``DATA_DIR/exports`` when unset."""
        if self.export_storage_url:
            return self.export_storage_url
        return (self.data_dir / "exports").resolve().as_uri()

    def api_key_map(self) -> dict[str, str]:
        """Return ``{key: workspace_id}`` from API_KEYS and API_KEYS_FILE."""
        pairs: list[str] = []
        if self.api_keys:
            pairs += self.api_keys.get_secret_value().split(",")
        if self.api_keys_file:
            try:
                pairs += self.api_keys_file.read_text().split()
            except OSError as exc:
                raise ConfigurationError(f"API_KEYS_FILE {self.api_keys_file} cannot be read: {exc}") from exc

        keys: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in pairs)):
            workspace_id, sep, key = pair.partition(":")
            if not sep or not workspace_id or not key:
                raise ConfigurationError("API_KEYS entries must look like workspace_id:key, separated by commas")
            if keys.get(key, workspace_id) != workspace_id:
                raise ConfigurationError(
                    f"API_KEYS gives one key to workspaces {keys[key]!r} and {workspace_id!r}; each key must "
                    "belong to one workspace"
                )
            keys[key] = workspace_id
        return keys

    def operator_keys(self) -> list[str]:
        """Return the keys of OPERATOR_API_KEYS; an empty list turns the operator endpoints off."""
        if not self.operator_api_keys:
            return []
        return [key.strip() for key in self.operator_api_keys.get_secret_value().split(",") if key.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable ConfigurationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        # from None: pydantic's own text can echo input values, secrets included.
        raise ConfigurationError(f"invalid settings: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()
