"""The cluster variant of the schema: Replicated local tables, Distributed tables, views on local tables."""

from __future__ import annotations

import pytest

from app.clickhouse import ClickHouse
from app.cluster_schema import ClusterDDL, created_tables
from app.errors import ConfigurationError
from app.schema import all_statements

CLUSTER = "analytics"
DATABASE = "campaign_analytics"


def translated() -> list[str]:
    ddl = ClusterDDL(CLUSTER, DATABASE, created_tables(all_statements()))
    statements = ddl.prologue()
    for statement in all_statements():
        statements += ddl.translate(statement)
    return statements


def statement_creating(name: str) -> str:
    matches = [s for s in translated() if s.lstrip().startswith(f"CREATE TABLE IF NOT EXISTS {name} ")]
    assert len(matches) == 1, name
    return matches[0]


def test_database_created_on_cluster():
    assert translated()[0] == f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` ON CLUSTER `{CLUSTER}`"


def test_every_table_has_local_and_distributed():
    for table in created_tables(all_statements()):
        local = statement_creating(table + "_local")
        distributed = statement_creating(table)
        assert f"ON CLUSTER `{CLUSTER}`" in local
        assert "ENGINE = Replicated" in local
        assert f"ENGINE = Distributed('{CLUSTER}', '{DATABASE}', '{table}_local', " in distributed


def test_engine_arguments_kept():
    # The version column of ReplacingMergeTree(updated_at) follows the replication arguments.
    local = statement_creating("campaigns_local")

    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', updated_at)" in local


def test_raw_events_sharded_by_message():
    distributed = statement_creating("email_events")

    assert distributed.endswith("sipHash64(workspace_id, campaign_id, message_id))")


def test_default_sharding_key_from_order_by():
    # A table not listed in SHARDING_KEYS is sharded by its sorting key.
    ddl = ClusterDDL(CLUSTER, DATABASE, ["jobs"])
    statements = ddl.translate(
        "CREATE TABLE IF NOT EXISTS jobs (id String, version UInt64)\n"
        "ENGINE = ReplacingMergeTree(version)\nORDER BY (workspace_id, id)\n"
    )

    assert statements[1].endswith("sipHash64(workspace_id, id))")


def test_views_read_and_write_local_tables():
    views = [s for s in translated() if "MATERIALIZED VIEW" in s]

    assert views
    for view in views:
        assert "TO message_state_local AS" in view or "TO campaign_activity_hourly_local AS" in view
        assert "FROM email_events_local" in view
        assert "FROM email_events\n" not in view


def test_alter_targets_local_tables():
    ddl = ClusterDDL(CLUSTER, DATABASE, ["email_events"])

    statements = ddl.translate("ALTER TABLE email_events MODIFY TTL toDateTime(occurred_at) + INTERVAL 400 DAY")

    assert statements == [
        f"ALTER TABLE email_events_local ON CLUSTER `{CLUSTER}` MODIFY TTL toDateTime(occurred_at) + INTERVAL 400 DAY"
    ]


def test_unknown_statement_rejected():
    ddl = ClusterDDL(CLUSTER, DATABASE, [])

    with pytest.raises(ConfigurationError, match="no cluster form"):
        ddl.translate("DROP TABLE email_events")


def test_invalid_cluster_name_rejected():
    with pytest.raises(ConfigurationError, match="CLICKHOUSE_CLUSTER"):
        ClusterDDL("bad name`; DROP", DATABASE, [])


def test_statements_parse(clickhouse: ClickHouse):
    # ClickHouse's own parser checks the syntax; running them needs a real cluster with Keeper.
    for statement in translated():
        formatted = clickhouse.query_rows("SELECT formatQuery({sql:String}) AS sql", {"sql": statement})
        assert formatted[0]["sql"], statement
