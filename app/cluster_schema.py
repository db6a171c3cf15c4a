"""The ClickHouse cluster variant of the schema, generated from the single-node statements.

With ``CLICKHOUSE_CLUSTER`` set, every single-node statement of
``app.schema`` is rewritten for that cluster (a ``remote_servers`` entry of
the servers' configuration):

- a table ``name`` becomes ``name_local`` on every node, with the Replicated
  form of its engine, plus a Distributed table ``name`` over the local tables.
  The application keeps reading and inserting by the plain names;
- a materialized view reads and writes the local tables, so each shard
  aggregates the rows it stores, and queries merge the shards' partial
  aggregate states through the Distributed tables;
- ``ALTER TABLE name`` alters ``name_local`` on every node.

Rows that must meet on one shard share a sharding key: all events of one
message (so deduplication and per-message state stay on one shard) and all
versions of one campaign or export job (so ``FINAL`` sees them together).

The servers need the ``{shard}`` and ``{replica}`` macros and ClickHouse
Keeper (or ZooKeeper). NOTE: the generated statements are checked with
ClickHouse's own parser in the tests, not run on a real cluster there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.errors import ConfigurationError

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

MESSAGE_KEY = "sipHash64(workspace_id, campaign_id, message_id)"
CAMPAIGN_KEY = "sipHash64(workspace_id, campaign_id)"
# Tables whose sharding key differs from a hash of their ORDER BY columns. Raw
# events are sharded by message rather than by event, so every event of one
# message lands on the shard that keeps that message's state.
SHARDING_KEYS = {
    "email_events": MESSAGE_KEY,
    "message_state": MESSAGE_KEY,
    "campaign_activity_hourly": CAMPAIGN_KEY,
    "campaigns": CAMPAIGN_KEY,
}

_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS (\w+) \(")
_CREATE_VIEW = re.compile(r"^\s*CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\b")
_ALTER_TABLE = re.compile(r"^\s*ALTER TABLE (\w+) ")
_ENGINE = re.compile(r"ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?")
_ORDER_BY = re.compile(r"ORDER BY \(?([^)\n]+)\)?")
_FROM = re.compile(r"\bFROM (\w+)\b")


class ClusterDDL:
    """Rewrites single-node DDL for the cluster ``cluster``; ``tables`` are the names the schema creates."""

    def __init__(self, cluster: str, database: str, tables: Iterable[str]) -> None:
        if not re.fullmatch(r"[\w.-]+", cluster):
            raise ConfigurationError(f"CLICKHOUSE_CLUSTER {cluster!r} is not a valid cluster name")
        self.cluster = cluster
        self.database = database
        self.tables = frozenset(tables)

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER `{self.cluster}`"

    def prologue(self) -> list[str]:
        """Return the statements that must run before any other: the database on every node."""
        return [f"CREATE DATABASE IF NOT EXISTS `{self.database}` {self.on_cluster}"]

    def translate(self, statement: str) -> list[str]:
        """Return the cluster statements that replace one single-node statement.

        Raises ConfigurationError for a statement of a form this module does
        not know, so a new kind of migration fails at once instead of creating
        a single-node table on one server.
        """
        if match := _CREATE_TABLE.match(statement):
            return self._create_table(statement, match.group(1))
        if match := _CREATE_VIEW.match(statement):
            return [self._create_view(statement, match.group(1), match.group(2))]
        if match := _ALTER_TABLE.match(statement):
            name = match.group(1)
            return [_ALTER_TABLE.sub(f"ALTER TABLE {name}{LOCAL_SUFFIX} {self.on_cluster} ", statement, count=1)]
        first_line = statement.strip().splitlines()[0] if statement.strip() else ""
        raise ConfigurationError(f"no cluster form for the schema statement {first_line!r}")

    def _create_table(self, statement: str, name: str) -> list[str]:
        local = name + LOCAL_SUFFIX
        engine = _ENGINE.search(statement)
        if engine is None:
            raise ConfigurationError(f"table {name} has no MergeTree engine, so it has no Replicated form")
        arguments = REPLICA_PATH + (f", {engine.group(2)}" if engine.group(2) else "")
        local_statement = _CREATE_TABLE.sub(
            f"CREATE TABLE IF NOT EXISTS {local} {self.on_cluster} (", statement, count=1
        )
        local_statement = _ENGINE.sub(f"ENGINE = Replicated{engine.group(1)}({arguments})", local_statement, count=1)

        distributed = (
            f"CREATE TABLE IF NOT EXISTS {name} {self.on_cluster} AS {local}\n"
            f"ENGINE = Distributed('{self.cluster}', '{self.database}', '{local}', {self._sharding_key(statement, name)})"
        )
        return [local_statement, distributed]

    def _create_view(self, statement: str, view: str, target: str) -> str:
        header = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} {self.on_cluster} TO {target}{LOCAL_SUFFIX} AS"
        rewritten = _CREATE_VIEW.sub(header, statement, count=1)
        # A view fires on inserts into the table it reads, and on a cluster
        # those arrive at the local tables.
        return _FROM.sub(
            lambda m: f"FROM {m.group(1)}{LOCAL_SUFFIX}" if m.group(1) in self.tables else m.group(0), rewritten
        )

    @staticmethod
    def _sharding_key(statement: str, name: str) -> str:
        if name in SHARDING_KEYS:
            return SHARDING_KEYS[name]
        # By default rows with the same sorting key share a shard, which keeps
        # the versions of one row together for ReplacingMergeTree and FINAL.
        order_by = _ORDER_BY.search(statement)
        if order_by is None:
            raise ConfigurationError(f"table {name} has no ORDER BY to derive a sharding key from")
        return f"sipHash64({order_by.group(1).strip()})"


def created_tables(statements: Iterable[str]) -> list[str]:
    """Return the names of the tables the statements create."""
    return [match.group(1) for statement in statements if (match := _CREATE_TABLE.match(statement))]
