"""This host's place in a deployment: its heartbeat, the partitions it holds, and who holds the rest.

Rooms hash to partitions (`partitions.py`); each partition is held by one host at a time under a
lease on the database's clock (`tables.py`). Every `tick_s` the coordinator runs ONE statement
in the steady state: heartbeat (with the load document), renew all its leases, and read every
host and partition. A second statement only when something moves: claiming partitions it is
now the desired owner of (free or expired ones; atomic, so one winner), releasing the ones it
must hand over (once `busy(p)` is 0), or removing a host whose heartbeat is older than the lease.
The `sweep` callback (the store's statement) runs once a tick beside it, off the tick's path;
the listening connection is checked with a `SELECT 1` every lease_s.
Operations hosts publish to each other (`publish`: a plugin reloaded, an agent added) are kept in
a table and announced by a notification carrying their sequence number; each host reads them in
order from the last it read, also after its listening connection was lost (at-least-once, never
reordered; kept a day).
Everything a message needs (`partition_of`, `owns`, `owner`) is answered from memory: zero
database operations per message.

Timing: a host that dies renewed its leases at most `tick_s` before; they expire `lease_s`
later, and the others claim at their next tick: its partitions move within lease_s + tick_s
(plus a statement). Fencing: `owns(p)` turns False `FENCE_S` before the lease runs out by this
host's own monotonic estimate (taken from when the renewing statement was sent, so it errs
early), so a host that cannot renew stops starting runs before another may claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import asyncpg

from ..store.postgres import redact, split_schema
from . import statements
from .broadcast import Listener, cancel, channel_of, encode
from .partitions import assignment, partition_of
from .tables import create_tables

log = logging.getLogger(__name__)

#: owns(p) is False this long before the lease on p runs out (by the local estimate).
FENCE_S = 1.0
#: Ticks asked for by notifications (another host moved something) come no closer than this.
MIN_TICK_GAP_S = 0.05
#: How often stop() looks at busy() while handing over.
DRAIN_POLL_S = 0.05
#: The coordinator's own message kind: "the deployment changed, read it now".
CHANGED = "_changed"
#: The coordinator's announcement of a published operation ({"seq": n}): read it from the table.
OP = "_op"
#: Operations read from the table at most this many at a time.
OPS_BATCH = 200
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class PeerHost:
    """A host of the deployment as last read."""

    host_id: str
    address: str  #: where the other hosts reach it (gRPC)
    heartbeat_age_s: float
    stopping: bool  #: handing over: takes no new partitions
    load: dict[str, Any]
    partitions: tuple[int, ...]  #: the partitions it holds (a lease not expired by the last read)


@dataclass
class _HostRow:
    address: str
    age_s: float  # at the read
    stopping: bool
    load: dict[str, Any]


@dataclass
class _View:
    """The deployment as the last tick read it; times are this host's monotonic clock."""

    read_at: float = -math.inf
    read_at_ms: int = 0
    hosts: dict[str, _HostRow] = field(default_factory=dict)
    holders: dict[int, str] = field(default_factory=dict)  # partition -> host holding a lease
    expiry: dict[int, float] = field(default_factory=dict)  # partition -> when its lease ends
    desired: dict[int, str] = field(default_factory=dict)  # partition -> desired owner


class Coordinator:
    """This host's membership of a deployment (see the module's docstring).

    `load()` is this host's load document (heartbeated); `busy(p)` how many runs of partition p
    are still going here (a partition is handed over when it is 0); `sweep(live_host_ids,
    read_at_ms)` ends the runs of hosts not in the list that started before read_at_ms (database
    time) and returns how many; `on_dead(host_id)` is called on the one host that removed a dead
    host's row. The URL's optional `?schema=` says where the tables live, as the store's does.
    """

    def __init__(
        self,
        url: str,
        host_id: str,
        address: str,
        *,
        partitions: int = 64,
        lease_s: float = 6.0,
        tick_s: float = 1.0,
        load: Callable[[], dict[str, Any]] = dict,
        busy: Callable[[int], int] = lambda partition: 0,
        sweep: Callable[[list[str], int], Awaitable[int]] | None = None,
        on_dead: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        if tick_s <= 0 or lease_s <= tick_s + FENCE_S:
            raise ValueError(
                f"lease_s ({lease_s}) must exceed tick_s ({tick_s}) + {FENCE_S} s, or leases lapse between renewals"
            )
        self.host_id = host_id
        self.address = address
        self.partitions = partitions
        self.lease_s = lease_s
        self.tick_s = tick_s
        self._where = redact(url)
        self._dsn, self._schema = split_schema(url)
        self._channel = channel_of(self._schema)
        self._load = load
        self._busy = busy
        self._sweep = sweep
        self._on_dead = on_dead
        #: Database calls wait this long at most, then the connection is dropped and opened again.
        self._timeout_s = max(1.0, min(lease_s / 2, 5.0))
        self._conn: asyncpg.Connection | None = None
        self._db_lock = asyncio.Lock()
        self._leases: dict[int, float] = {}  # partitions held -> local expiry estimate
        self._epochs: dict[int, int] = {}  # partitions held -> epoch of our claim (fencing token)
        self._view = _View()
        self._viewed = asyncio.Event()  # set, and replaced, after every tick
        self._wake = asyncio.Event()
        self._handlers: dict[str, list[Callable[[dict[str, Any]], Awaitable[None]]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeping: asyncio.Task[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener = Listener(
            self._dsn,
            self._channel,
            self._heard,
            self._connected,
            connect_timeout_s=self._timeout_s,
            application_name=f"agenthost deployment listen {host_id}",
            check_s=lease_s,
        )
        self._changed_message = encode(host_id, CHANGED, {})
        self._op_seq = 0  # the last published operation read (every host's, this one's too)
        self._reading_ops = asyncio.Lock()  # operations are read, and handled, in order
        self._started = False
        self._stopping = False
        self._last_tick = -math.inf
        self._unreachable_since: float | None = None
        #: Counters for status and tests: ticks run, ticks failed, statements sent by ticks.
        self.ticks = 0
        self.failed_ticks = 0
        self.statements = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Make the tables if missing, register this host, listen, run a first tick (claiming what
        is free), and keep ticking. Raises when the database cannot be reached."""
        async with self._db_lock:
            conn = await self._connection()
            try:
                await asyncio.wait_for(create_tables(conn, self._schema, self.partitions), self._timeout_s * 4)
            except BaseException:
                self._drop_connection()
                raise
            self._op_seq = int(await conn.fetchval(statements.LAST_OP))  # older operations are not ours
        await self._listener.start(self._timeout_s)
        try:
            async with self._db_lock:
                await self._register()
        except BaseException:
            await self._listener.close()
            raise
        self._started = True
        self._spawn(self._read_ops())  # published between the table's read and the listening
        await self._tick_safely()
        self._task = asyncio.create_task(self._run(), name=f"deployment coordinator {self.host_id}")

    async def stop(self, drain_timeout_s: float = 30.0) -> None:
        """Hand over and leave: take no new runs (owns() is False from now on), say so (the others
        stop choosing this host), release each partition once busy(p) is 0, waiting up to
        `drain_timeout_s`, then release what is left and remove this host's row."""
        if not self._started:
            return
        self._stopping = True
        deadline = time.monotonic() + drain_timeout_s
        await self._tick_safely()  # heartbeat says stopping; releases what is idle already
        with contextlib.suppress(*_LOST):
            await self._notify(self._changed_message)
        while self.owned() and time.monotonic() < deadline:  # leases lapsed (database lost) hold nothing
            if any(self._busy(p) == 0 for p in self.owned()):
                self._wake.set()
            await asyncio.sleep(DRAIN_POLL_S)
        self._started = False  # the tick loop ends at its next turn
        if self._task is not None:
            await cancel(self._task)
            self._task = None
        still_busy = {p: n for p in self._leases if (n := self._busy(p))}
        if still_busy:
            log.warning("deployment: leaving with runs still going in partitions %s", still_busy)
        try:
            async with self._db_lock:
                await self._fetch(statements.LEAVE, self.host_id, self._channel, self._changed_message)
        except _LOST as exc:
            log.warning("deployment: could not deregister %s (its leases expire by themselves): %s", self.host_id, exc)
        self._leases.clear()
        for task in [*self._background, *([self._sweeping] if self._sweeping else [])]:
            task.cancel()
        await self._listener.close()
        self._drop_connection()

    # -- the hot path: memory only -------------------------------------------------------------

    def partition_of(self, agent_id: str, room_id: str) -> int:
        """The partition of agent `agent_id`'s room `room_id`."""
        return partition_of(agent_id, room_id, self.partitions)

    def owns(self, partition: int) -> bool:
        """Whether this host may start a run in `partition` now: it holds the lease (not within
        FENCE_S of its end), is its desired owner and is not stopping. A caller counts the run in
        busy() before its next await, so a handover never misses it."""
        expiry = self._leases.get(partition)
        return (
            expiry is not None
            and not self._stopping
            and expiry - FENCE_S > time.monotonic()
            and self._view.desired.get(partition) == self.host_id
        )

    def owner(self, partition: int) -> PeerHost | None:
        """The host holding `partition`'s lease as last read; None while nobody does. This host
        only while owns(partition): one handing it over (or fenced, or stopping) is no answer to
        "where does this message go", and a caller that retried on it would spin."""
        holder = self._view.holders.get(partition)
        if holder is None or self._view.expiry.get(partition, -math.inf) <= time.monotonic():
            return None
        if holder == self.host_id and not self.owns(partition):
            return None
        return self._peer(holder)

    async def wait_owner(self, partition: int, timeout_s: float) -> PeerHost:
        """The host that takes runs of `partition`, once there is one: this host when owns() says
        so, another that holds it and is not handing it over. TimeoutError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            viewed = self._viewed
            found = self._taker(partition)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no host took partition {partition} within {timeout_s} s")
            with contextlib.suppress(TimeoutError):
                # A lease of ours may pass its fence without a tick: look again at least each tick.
                await asyncio.wait_for(viewed.wait(), min(left, self.tick_s))

    async def refresh(self) -> None:
        """Run a tick now (after another host refused a forward as "not the owner"). A database
        failure is logged, not raised: the view stays as it was."""
        await self._tick_safely()

    def hosts(self) -> list[PeerHost]:
        """The deployment as last read, this host included, by host id."""
        return [peer for host_id in sorted(self._view.hosts) if (peer := self._peer(host_id)) is not None]

    def owned(self) -> tuple[int, ...]:
        """The partitions this host holds a lease on (those it is handing over included)."""
        now = time.monotonic()
        return tuple(sorted(p for p, expiry in self._leases.items() if expiry > now))

    def epoch(self, partition: int) -> int | None:
        """The epoch of this host's claim on `partition` (a fencing token: it grows at each claim by
        anyone); None when this host does not hold it."""
        return self._epochs.get(partition) if partition in self._leases else None

    # -- messages between hosts ----------------------------------------------------------------

    async def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Send `payload` to the other hosts' `kind` handlers, in publishing order: kept in the
        deployment's operations table (a day) and announced; a host that missed the announcement
        (its listening connection was down) reads it when it listens again."""
        if kind.startswith("_"):
            raise ValueError(f"message kinds starting with '_' are the coordinator's: {kind!r}")
        async with self._db_lock:
            await self._fetch(statements.PUBLISH, self.host_id, kind, json.dumps(payload), self._channel, OP)

    def subscribe(self, kind: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Run `handler(payload)` for each `kind` message another host publishes."""
        if kind.startswith("_"):
            raise ValueError(f"message kinds starting with '_' are the coordinator's: {kind!r}")
        self._handlers.setdefault(kind, []).append(handler)

    @property
    def listen_connections(self) -> int:
        """How many times the listening connection was opened (more than 1: it was lost and reopened)."""
        return self._listener.connections

    def _heard(self, origin: str, kind: str, payload: dict[str, Any]) -> None:
        if kind == OP:
            seq = payload.get("seq")
            if origin != self.host_id and isinstance(seq, int) and seq > self._op_seq:
                self._spawn(self._read_ops())
            return
        if origin == self.host_id:
            return
        if kind == CHANGED:
            self._wake.set()

    def _connected(self) -> None:
        """The listening connection is (again) open: what was announced meanwhile is read now."""
        self._wake.set()
        if self._started:
            self._spawn(self._read_ops())

    async def _read_ops(self) -> None:
        """Handle the operations published after the last one read, in order (one reader at a time)."""
        async with self._reading_ops:
            while True:
                try:
                    async with self._db_lock:
                        rows = await self._fetch(statements.READ_OPS, self._op_seq, OPS_BATCH)
                except _LOST as exc:
                    log.info("deployment: published operations not read now (%s); read when it answers", exc)
                    return
                for row in rows:
                    self._op_seq = max(self._op_seq, int(row["seq"]))
                    if row["origin"] == self.host_id:
                        continue
                    payload = _json_object(row["payload"])
                    for handler in self._handlers.get(row["kind"], ()):
                        await self._handle(row["kind"], handler, payload)
                if len(rows) < OPS_BATCH:
                    return

    async def _handle(
        self, kind: str, handler: Callable[[dict[str, Any]], Awaitable[None]], payload: dict[str, Any]
    ) -> None:
        try:
            await handler(payload)
        except Exception:
            log.exception("deployment: a handler of %r failed", kind)

    async def _notify(self, message: str) -> None:
        async with self._db_lock:
            await self._fetch("SELECT pg_notify($1, $2)::text", self._channel, message)

    # -- ticks ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while self._started:
            wait = self._last_tick + self.tick_s - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            gap = self._last_tick + MIN_TICK_GAP_S - time.monotonic()
            if gap > 0:
                await asyncio.sleep(gap)
            self._wake.clear()
            await self._tick_safely()

    async def _tick_safely(self) -> None:
        self._last_tick = time.monotonic()
        try:
            live = await self._tick()
        except _LOST as exc:
            self.failed_ticks += 1
            if self._unreachable_since is None:
                self._unreachable_since = time.monotonic()
                log.warning("deployment: cannot reach %s: %s (leases lapse unless renewed)", self._where, exc)
            self._listener.drop()  # it may be as dead as this connection, and silently
            return
        except Exception:
            self.failed_ticks += 1
            log.exception("deployment: a tick failed")
            return
        if self._unreachable_since is not None:
            log.warning(
                "deployment: %s reachable again after %.1f s", self._where, time.monotonic() - self._unreachable_since
            )
            self._unreachable_since = None
        if self._sweep is not None and (self._sweeping is None or self._sweeping.done()):
            self._sweeping = asyncio.create_task(self._sweep_now(live, self._view.read_at_ms))

    async def _tick(self) -> list[str]:
        """One tick (see the module's docstring); the live hosts' ids."""
        async with self._db_lock:
            sent = time.monotonic()
            load = json.dumps(self._load())
            (row,) = await self._fetch(statements.TICK, self.host_id, load, self._stopping, self.lease_s)
            count = 1
            if row["beat"] == 0 and self._started:
                log.warning("deployment: %s was taken for dead by another host; registering again", self.host_id)
                await self._register()
                count += 1
            renewed = set(row["renewed"])
            self._leases = {p: sent + self.lease_s for p in renewed}
            self._epochs = {p: e for p, e in zip(row["p_ids"] or (), row["p_epochs"] or ()) if p in renewed}
            view = self._read(row, sent, load)
            live = sorted(h for h, host in view.hosts.items() if host.age_s <= self.lease_s or h == self.host_id)
            view.desired = assignment((h for h in live if not view.hosts[h].stopping), self.partitions)
            self._view = view  # from here owns() answers by the new view, before busy() is asked
            wanted = [
                p
                for p, owner in view.desired.items()
                if owner == self.host_id and p not in renewed and view.expiry.get(p, -math.inf) <= sent
            ]
            if wanted and not self._stopping:
                won = await self._fetch(
                    statements.CLAIM, self.host_id, wanted, self.lease_s, self._channel, self._changed_message
                )
                count += 1
                for record in won:
                    p = record["partition"]
                    self._leases[p] = sent + self.lease_s
                    self._epochs[p] = record["epoch"]
                    view.holders[p] = self.host_id
                    view.expiry[p] = sent + self.lease_s
            leaving = [p for p in self._leases if view.desired.get(p) != self.host_id and self._busy(p) == 0]
            if leaving:
                freed = await self._fetch(
                    statements.RELEASE, self.host_id, leaving, self._channel, self._changed_message
                )
                count += 1
                for record in freed:
                    p = record["partition"]
                    self._leases.pop(p, None)
                    self._epochs.pop(p, None)
                    view.holders.pop(p, None)
                    view.expiry.pop(p, None)
            dead = [h for h, host in view.hosts.items() if h != self.host_id and host.age_s > self.lease_s]
            removed: list[str] = []
            if dead:
                removed = [r["host_id"] for r in await self._fetch(statements.REMOVE_DEAD, dead, self.lease_s)]
                count += 1
        self.ticks += 1
        self.statements += count
        for host_id in removed:
            log.warning("deployment: host %s stopped answering (no heartbeat for %.0f s)", host_id, self.lease_s)
            if self._on_dead is not None:
                self._spawn(self._on_dead(host_id))
        self._viewed.set()
        self._viewed = asyncio.Event()
        return live

    def _read(self, row: asyncpg.Record, sent: float, load: str) -> _View:
        view = _View(read_at=sent, read_at_ms=row["read_at_ms"])
        for host_id, address, age, stopping, host_load in zip(
            row["h_ids"] or (),
            row["h_addresses"] or (),
            row["h_ages"] or (),
            row["h_stopping"] or (),
            row["h_loads"] or (),
        ):
            view.hosts[host_id] = _HostRow(address, age, stopping, _json_object(host_load))
        view.hosts[self.host_id] = _HostRow(self.address, 0.0, self._stopping, _json_object(load))
        renewed = self._leases
        for p, holder, left in zip(row["p_ids"] or (), row["p_hosts"] or (), row["p_left"] or ()):
            if p in renewed:
                view.holders[p], view.expiry[p] = self.host_id, renewed[p]
            elif holder is not None and holder != self.host_id:
                view.holders[p], view.expiry[p] = holder, sent + left
        return view

    async def _register(self) -> None:
        load = json.dumps(self._load())
        await self._fetch(statements.REGISTER, self.host_id, self.address, load, self._channel, self._changed_message)

    async def _sweep_now(self, live: list[str], read_at_ms: int) -> None:
        assert self._sweep is not None
        try:
            ended = await self._sweep(live, read_at_ms)
        except Exception:
            log.exception("deployment: the sweep of runs left by gone hosts failed")
            return
        if ended:
            log.warning("deployment: ended %d runs of hosts no longer live", ended)

    def _peer(self, host_id: str) -> PeerHost | None:
        host = self._view.hosts.get(host_id)
        if host is None:
            return None
        now = time.monotonic()
        held = tuple(sorted(p for p, h in self._view.holders.items() if h == host_id and self._view.expiry[p] > now))
        return PeerHost(host_id, host.address, host.age_s + now - self._view.read_at, host.stopping, host.load, held)

    def _taker(self, partition: int) -> PeerHost | None:
        """The host to send `partition`'s runs to, if one takes them now."""
        peer = self.owner(partition)
        if peer is None or peer.host_id == self.host_id:  # this host: owner() checked owns()
            return peer
        if peer.stopping or self._view.desired.get(partition, peer.host_id) != peer.host_id:
            return None  # handing it over
        return peer

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the database --------------------------------------------------------------------------

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=self._timeout_s,
                server_settings={
                    "search_path": self._schema,
                    "application_name": f"agenthost deployment {self.host_id}"[:63],
                },
            )
        return self._conn

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run one statement; on any failure (a timeout included) the connection is dropped, to be
        opened again by the next call. Call with `_db_lock` held."""
        try:
            conn = await self._connection()
            return await asyncio.wait_for(conn.fetch(sql, *args), self._timeout_s)
        except BaseException:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
