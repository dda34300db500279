"""Messages between the deployment's hosts: PostgreSQL NOTIFY on one channel, heard on a LISTEN
connection of each host's own, opened again whenever it is lost.

A message is JSON {"origin": host id, "kind": ..., "payload": {...}}; a host ignores its own.
NOTIFY is at-most-once: a host whose listening connection was down misses what was sent
meanwhile, so nothing here may be the only way a fact travels (the coordinator's tick reads the
tables anyway; a notification only makes it read them now). Kinds starting with "_" are the
coordinator's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Callable

import asyncpg

from .partitions import stable_hash

log = logging.getLogger(__name__)

CHANNEL = "agenthost_deployment"
#: PostgreSQL's limit on a NOTIFY payload is 8000 bytes.
MAX_PAYLOAD_BYTES = 7900
_IDENTIFIER_MAX = 63
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for its end. Cancelled again until it ends: before Python 3.12 a
    cancellation can be lost in asyncio.wait_for when the awaited call finishes at that moment."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


def channel_of(schema: str) -> str:
    """The channel of the deployment whose tables are in `schema` (deployments in other schemas of
    one database do not hear each other): `agenthost_deployment`, suffixed unless public."""
    if schema == "public":
        return CHANNEL
    name = f"{CHANNEL}_{schema}"
    if len(name) > _IDENTIFIER_MAX:  # PostgreSQL would cut it, and two long schemas could meet
        name = f"{CHANNEL}_{stable_hash(schema):016x}"
    return name


def encode(origin: str, kind: str, payload: dict[str, Any]) -> str:
    """The NOTIFY payload of one message; ValueError when it is too long for NOTIFY."""
    text = json.dumps({"origin": origin, "kind": kind, "payload": payload}, separators=(",", ":"))
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"deployment message {kind!r} is {len(text.encode())} bytes; NOTIFY takes {MAX_PAYLOAD_BYTES}")
    return text


class Listener:
    """One LISTEN connection, kept open: `on_message(origin, kind, payload)` for each message heard
    (from any host, this one's included); `on_connected()` each time it (re)connects, since what was
    sent while it was down is lost. Checked with a `SELECT 1` every `check_s`, and opened again
    when that, or the server, says it is gone."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_message: Callable[[str, str, dict[str, Any]], None],
        on_connected: Callable[[], None],
        *,
        connect_timeout_s: float,
        application_name: str = "agenthost deployment listener",
        check_s: float = 10.0,
        retry_s: float = 0.5,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_message = on_message
        self._on_connected = on_connected
        self._connect_timeout_s = connect_timeout_s
        self._application_name = application_name[:63]
        self._check_s = check_s
        self._retry_s = retry_s
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: How many times the connection was opened (1 after the start; more after losses).
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self, timeout_s: float) -> None:
        """Start listening; wait (up to `timeout_s`) for the first connection, so that nothing sent
        after the start is missed. The connection is retried in the background either way."""
        self._task = asyncio.create_task(self._keep(), name=f"deployment listener {self._channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)

    def drop(self) -> None:
        """Close the connection now (it is reopened): for when the database was found unreachable
        and this connection may be silently dead too."""
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()
        self._lost.set()

    async def close(self) -> None:
        if self._task is not None:
            await cancel(self._task)
            self._task = None
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _keep(self) -> None:
        while True:
            conn = await self._listen()
            if conn is None:
                await asyncio.sleep(self._retry_s)
                continue
            self._conn = conn
            self.connections += 1
            if self.connections > 1:
                log.info("deployment listener: connected again (messages sent meanwhile are lost)")
            self._connected.set()
            self._on_connected()
            await self._watch(conn)
            self._connected.clear()
            conn.terminate()
            self._conn = None
            await asyncio.sleep(min(self._retry_s, 0.05))

    async def _listen(self) -> asyncpg.Connection | None:
        """A new connection that LISTENs on the channel; None when the database cannot be reached."""
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout_s,
                server_settings={"application_name": self._application_name},
            )
            self._lost.clear()
            conn.add_termination_listener(lambda _conn: self._lost.set())
            await asyncio.wait_for(conn.add_listener(self._channel, self._heard), self._connect_timeout_s)
            return conn
        except _LOST as exc:
            log.debug("deployment listener: cannot listen: %s", exc)
            if conn is not None:
                conn.terminate()
            return None

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Return once `conn` is lost: closed by the server, dropped, or silent to a `SELECT 1`
        every `check_s` (a link lost without a reset says nothing by itself)."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self._check_s)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self._connect_timeout_s)
            except _LOST as exc:
                log.info("deployment listener: the connection stopped answering (%s); opening another", exc)
                return

    def _heard(self, _conn: object, _pid: int, _channel: str, text: str) -> None:
        try:
            message = json.loads(text)
            origin, kind, payload = message["origin"], message["kind"], message["payload"]
        except (ValueError, KeyError, TypeError):
            log.warning("deployment listener: ignored a malformed message: %.200s", text)
            return
        self._on_message(str(origin), str(kind), payload if isinstance(payload, dict) else {})
