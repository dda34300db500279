"""The deployment's tables, in the queue database: who is in it, who holds each partition, and
the operations hosts publish to each other (kept, so a host that missed their notification reads them).

    deployment_hosts(host_id PK, address, started_at, heartbeat_at, stopping, load jsonb)
    deployment_partitions(partition PK, host_id NULL, lease_until, epoch)
    deployment_ops(seq PK, origin, kind, payload jsonb, at)

Every time in them is the database's clock (now()), never a host's. Every host rewrites its rows
each tick: the tables leave half of each page free so that those updates stay on their page (HOT)
and vacuum has little to do. `create_tables` is run by
every host at start: idempotent, and hosts starting at once take turns on an advisory lock, so
the second finds the work done. The partition count is the deployment's: a host configured with
another count is refused (its rooms would map to other partitions than the others' do).
"""

from __future__ import annotations

import asyncpg

from .partitions import stable_hash

HOSTS = "deployment_hosts"
PARTITIONS = "deployment_partitions"

_HOSTS_SQL = f"""
CREATE TABLE IF NOT EXISTS {HOSTS} (
    host_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopping BOOLEAN NOT NULL DEFAULT false,
    load JSONB NOT NULL DEFAULT '{{}}'
) WITH (fillfactor = 50)"""

_PARTITIONS_SQL = f"""
CREATE TABLE IF NOT EXISTS {PARTITIONS} (
    partition INTEGER PRIMARY KEY,
    host_id TEXT NULL,
    lease_until TIMESTAMPTZ NULL,
    epoch BIGINT NOT NULL DEFAULT 0
) WITH (fillfactor = 50)"""

OPS = "deployment_ops"
_OPS_SQL = f"""
CREATE TABLE IF NOT EXISTS {OPS} (
    seq BIGSERIAL PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload JSONB NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

_PARTITIONS_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {PARTITIONS}_host ON {PARTITIONS} (host_id)"


class PartitionCountMismatch(ValueError):
    """The deployment's tables hold another number of partitions than this host is configured with."""


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) that hosts creating `schema`'s tables take turns on."""
    return stable_hash(f"agenthost.deployment.tables/{schema}") - (1 << 63)


async def create_tables(conn: asyncpg.Connection, schema: str, partitions: int) -> None:
    """Make `schema` and the tables in it if missing, with one row per partition; raise
    PartitionCountMismatch when they exist with another partition count. `conn`'s search_path
    must be `schema`."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(schema))
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(_HOSTS_SQL)
        await conn.execute(_PARTITIONS_SQL)
        await conn.execute(_PARTITIONS_INDEX_SQL)
        await conn.execute(_OPS_SQL)
        existing = await conn.fetchval(f"SELECT count(*) FROM {PARTITIONS}")
        if existing and existing != partitions:
            raise PartitionCountMismatch(
                f"the deployment has {existing} partitions and this host is configured with {partitions}: "
                "[deployment] partitions must be the same on every host"
            )
        if not existing:
            await conn.execute(
                f"INSERT INTO {PARTITIONS} (partition) SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
                partitions,
            )
