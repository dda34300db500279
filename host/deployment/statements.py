"""The statements a coordinator runs on the deployment's tables (`tables.py`), each one round
trip. Where the other hosts should look at once, pg_notify is in the same statement, once a row
(PostgreSQL delivers identical notifications of one transaction once)."""

from __future__ import annotations

from .tables import HOSTS, OPS, PARTITIONS

#: One statement a tick (heartbeat, renew all, read all): $1 host id, $2 load JSON, $3 stopping,
#: $4 lease seconds. The CTEs' updates always run; the SELECT reads the snapshot from before
#: them, so this host's renewed partitions come from `renewed`, not from the partitions' read.
TICK = f"""
WITH beat AS (
    UPDATE {HOSTS} SET heartbeat_at = now(), load = $2::jsonb, stopping = $3
    WHERE host_id = $1 RETURNING host_id
), renewed AS (
    UPDATE {PARTITIONS} SET lease_until = now() + make_interval(secs => $4)
    WHERE host_id = $1 RETURNING partition
)
SELECT (extract(epoch FROM now()) * 1000)::bigint AS read_at_ms,
       (SELECT count(*) FROM beat) AS beat,
       (SELECT coalesce(array_agg(partition), '{{}}') FROM renewed) AS renewed,
       h.*, p.*
FROM (SELECT array_agg(host_id) AS h_ids, array_agg(address) AS h_addresses,
             array_agg(extract(epoch FROM now() - heartbeat_at)::float8) AS h_ages,
             array_agg(stopping) AS h_stopping, array_agg(load::text) AS h_loads
      FROM {HOSTS}) h,
     (SELECT array_agg(partition ORDER BY partition) AS p_ids,
             array_agg(host_id ORDER BY partition) AS p_hosts,
             array_agg(coalesce(extract(epoch FROM lease_until - now())::float8, -1) ORDER BY partition) AS p_left,
             array_agg(epoch ORDER BY partition) AS p_epochs
      FROM {PARTITIONS}) p
"""

#: Join (or join again after being taken for dead): $1 host id, $2 address, $3 load, $4 channel, $5 message.
REGISTER = f"""
WITH registered AS (
    INSERT INTO {HOSTS} (host_id, address, load) VALUES ($1, $2, $3::jsonb)
    ON CONFLICT (host_id) DO UPDATE SET address = excluded.address, started_at = now(),
        heartbeat_at = now(), stopping = false, load = excluded.load
    RETURNING host_id
)
SELECT host_id, pg_notify($4, $5)::text FROM registered
"""

#: Take the partitions $2 that are free or expired (one winner each): $1 host, $3 lease seconds.
CLAIM = f"""
WITH won AS (
    UPDATE {PARTITIONS} SET host_id = $1, lease_until = now() + make_interval(secs => $3), epoch = epoch + 1
    WHERE partition = ANY($2::int[]) AND (host_id IS NULL OR lease_until IS NULL OR lease_until < now())
    RETURNING partition, epoch
)
SELECT partition, epoch, pg_notify($4, $5)::text FROM won
"""

#: Give up the partitions $2 if still held by $1 (handed over: the new owner claims on the NOTIFY).
RELEASE = f"""
WITH freed AS (
    UPDATE {PARTITIONS} SET host_id = NULL, lease_until = NULL
    WHERE host_id = $1 AND partition = ANY($2::int[])
    RETURNING partition
)
SELECT partition, pg_notify($3, $4)::text FROM freed
"""

#: Remove the hosts $1 whose heartbeat is older than $2 seconds; the rows removed by this host.
REMOVE_DEAD = f"""
DELETE FROM {HOSTS} WHERE host_id = ANY($1::text[]) AND heartbeat_at < now() - make_interval(secs => $2)
RETURNING host_id
"""

#: A clean stop's last statement: release everything $1 holds and remove its row.
LEAVE = f"""
WITH freed AS (
    UPDATE {PARTITIONS} SET host_id = NULL, lease_until = NULL WHERE host_id = $1 RETURNING partition
), gone AS (
    DELETE FROM {HOSTS} WHERE host_id = $1 RETURNING host_id
)
SELECT (SELECT count(*) FROM freed) AS freed, (SELECT count(*) FROM gone) AS gone, pg_notify($2, $3)::text
"""


#: An operation for the other hosts, kept and announced in one statement: $1 origin, $2 kind,
#: $3 payload JSON, $4 channel, $5 the announcement's kind. The announcement carries only its
#: sequence number: hosts read the operation from the table (READ_OPS), also when they missed it.
PUBLISH = f"""
WITH op AS (
    INSERT INTO {OPS} (origin, kind, payload) VALUES ($1, $2, $3::jsonb) RETURNING seq
)
SELECT pg_notify($4, json_build_object('origin', $1::text, 'kind', $5::text,
                                       'payload', json_build_object('seq', op.seq))::text)::text
FROM op"""

#: Operations after $1 (a sequence number), oldest first, at most $2.
READ_OPS = f"SELECT seq, origin, kind, payload::text AS payload FROM {OPS} WHERE seq > $1 ORDER BY seq LIMIT $2"

#: Where the operations are now (a host starting takes no older ones), and forgets those older than a day.
LAST_OP = f"""
WITH forgotten AS (DELETE FROM {OPS} WHERE at < now() - interval '1 day')
SELECT coalesce(max(seq), 0) FROM {OPS}"""
