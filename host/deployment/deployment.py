"""This host as one of a deployment: each room's messages run on the host owning its partition.

A message may reach any host. The host that owns the room's partition (host/deployment/
coordinator.py) runs it in its pipeline; any other forwards it there over AgentService and
streams the owner's events back (host/deployment/forwarding.py). Nothing on this path asks the
coordination database: who owns what is read once a tick. A message gets its id where it
arrives, so sending it again (a client after a host died, a forward retried) is answered from
the store rather than run twice (the pipeline replays a stored message's run).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

import asyncpg

from plugin_sdk.types import Memory

from ..figures import waiting_runs
from ..status import DeploymentHostInfo, DeploymentInfo
from ..store import Store, redact
from .coordinator import Coordinator, PeerHost
from .forwarding import PeerRefused, Peers, PeerUnavailable, tls_credentials
from .settings import DeploymentConfig

if TYPE_CHECKING:
    from ..agent.agent import Agent
    from ..agent.run import RunEvent

log = logging.getLogger("host.deployment")

PLUGIN_OP = "plugin"  # published when a plugin is loaded, unloaded or reloaded on one host
PLUGIN_OPS = ("load", "unload", "reload")
AGENT_OP = "agent"  # published when an agent is added ({op: add, id, json}) or removed ({op: remove, id})


class NotOwner(Exception):
    """A message forwarded here belongs to a room this host does not own (any more): refused
    before anything is stored, so the host that forwarded it asks the owner again."""


class DeploymentUnreachable(OSError):
    """The deployment's queue database cannot be reached at the start: the host does not join."""


class NoOwner(Exception):
    """No host took the room's partition within the message's deadline (the deployment is
    handing it over, or every host is gone): nothing was stored."""


@dataclass
class Load:
    """What this host reports of itself with each heartbeat."""

    messages: int = 0  # messages run here since the start
    waiting: int = 0  # messages held here waiting for a room's owner
    plugins: Callable[[], list[str]] = field(default=lambda: [])


class Deployment:
    """Routes each message to its room's owner and keeps this host in the deployment."""

    def __init__(
        self,
        config: DeploymentConfig,
        address: str,
        token: str,
        store: Store,
        agents: Callable[[], list[Agent]],
        run_timeout_s: float,
        plugins: Callable[[], list[str]],
        tls_ca: str = "",
    ) -> None:
        """`tls_ca`: the CA to check the other hosts' certificates with (they serve TLS), or ""."""
        config = config.with_host_id()
        self.config = config
        self.host_id = config.host_id
        self.address = config.advertise or address
        self.store = store
        self._agents = agents
        self.run_timeout_s = run_timeout_s
        self.load = Load(plugins=plugins)
        self.coordinator = Coordinator(
            config.queue_url,
            self.host_id,
            self.address,
            partitions=config.partitions,
            lease_s=config.lease_s,
            tick_s=config.tick_s,
            load=self._load_doc,
            busy=self._busy,
            sweep=self._sweep,
        )
        self.peers = Peers(token, tls_credentials(tls_ca) if tls_ca else None)

    async def start(self) -> None:
        """Join: register, take a share of the partitions. DeploymentUnreachable when the queue
        database does not answer."""
        try:
            await self.coordinator.start()
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
            where = redact(self.config.queue_url)
            raise DeploymentUnreachable(f"cannot join the deployment: its queue database {where} said: {exc}") from None
        log.info(
            "host %s joined the deployment as %s (%d host(s), owns %d of %d partitions)",
            self.address,
            self.host_id,
            len(self.coordinator.hosts()),
            len(self.coordinator.owned()),
            self.config.partitions,
        )

    async def stop(self) -> None:
        """Leave: hand the rooms over once their runs here have ended, deregister."""
        await self.coordinator.stop(drain_timeout_s=self.run_timeout_s)
        await self.peers.close()

    def subscribe(self, kind: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Run `handler` for each `kind` operation another host publishes."""
        self.coordinator.subscribe(kind, handler)

    async def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Tell the other hosts (they run what they subscribed for `kind`)."""
        await self.coordinator.publish(kind, payload)

    async def send(self, agent: Agent, message: Memory, room_type: str, forwarded: str = "") -> AsyncIterator[RunEvent]:
        """Run `message` where its room is owned, yielding the run's events. `forwarded` names the
        host that sent it here (then it runs here or is refused with NotOwner, never sent on)."""
        if not message.id:
            message.id = str(uuid.uuid4())  # from here on, sending it again is idempotent
        coordinator = self.coordinator
        partition = coordinator.partition_of(agent.id, message.room_id)
        deadline = time.monotonic() + self.run_timeout_s
        seen: set[str] = set()  # event types yielded: a forward sent again after some replays the run
        replaying = False
        while True:
            if coordinator.owns(partition):
                self.load.messages += 1
                async for event in agent.pipeline.send(message, room_type):
                    if not (replaying and event.type in seen):
                        yield event
                return
            if forwarded:
                raise NotOwner(f"host {self.host_id} does not own room {message.room_id!r} (partition {partition})")
            owner = await self._owner(partition, deadline)
            if owner.host_id == self.host_id:  # taken by this host meanwhile (owns it from the next look)
                await asyncio.sleep(0.01)
                continue
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                async for event in self.peers.send(
                    owner.address, agent.id, message, room_type, remaining, self.host_id
                ):
                    if not (replaying and event.type in seen):  # a replay repeats what was yielded
                        seen.add(event.type)
                        yield event
                return
            except PeerRefused as exc:  # it no longer owns the room, or is backlogged: ask again
                log.debug("host %s did not take room %s: %s", owner.host_id, message.room_id, exc)
                await asyncio.sleep(min(exc.retry_after_s, max(deadline - time.monotonic(), 0)))
            except PeerUnavailable as exc:
                # Sent again, the same id: run once if it never was stored there; else its run is
                # replayed once the sweep has ended it (its host died), so the caller learns its end.
                log.info(
                    "host %s is unreachable (%s); sending room %s's message on", owner.host_id, exc, message.room_id
                )
                replaying = bool(seen)
                await asyncio.sleep(min(self.config.tick_s, max(deadline - time.monotonic(), 0)))
            if time.monotonic() >= deadline:
                raise NoOwner(f"no host of the deployment took room {message.room_id!r} in time")
            await coordinator.refresh()

    async def _owner(self, partition: int, deadline: float) -> PeerHost:
        """The partition's owner, waiting (counted as a waiting message) while nobody holds it."""
        owner = self.coordinator.owner(partition)
        if owner is not None and owner.heartbeat_age_s < self.config.lease_s:
            return owner
        self.load.waiting += 1
        try:
            return await self.coordinator.wait_owner(partition, max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            raise NoOwner(f"no host of the deployment owns partition {partition} (a handover, or every host is gone)")
        finally:
            self.load.waiting -= 1

    def info(self) -> DeploymentInfo:
        """The deployment as last read (status)."""
        peers = self.coordinator.hosts()
        hosts = []
        for peer in peers:
            load = peer.load
            hosts.append(
                DeploymentHostInfo(
                    host_id=peer.host_id,
                    address=peer.address,
                    heartbeat_age_s=peer.heartbeat_age_s,
                    stopping=peer.stopping,
                    partitions=tuple(peer.partitions),
                    running_runs=int(load.get("running_runs", 0)),
                    active_rooms=int(load.get("active_rooms", 0)),
                    messages=int(load.get("messages", 0)),
                    plugins=tuple(str(p) for p in load.get("plugins", [])),
                )
            )
        return DeploymentInfo(
            host_id=self.host_id,
            partitions=self.config.partitions,
            hosts=hosts,
            waiting_messages=sum(int(p.load.get("waiting_messages", 0)) for p in peers),
            lagging_runs=sum(int(p.load.get("lagging_runs", 0)) for p in peers),
        )

    def _busy(self, partition: int) -> int:
        """How many of this host's rooms in `partition` have runs going or waiting."""
        partition_of = self.coordinator.partition_of
        return sum(
            1
            for agent in self._agents()
            if agent.started
            for room in agent.pipeline.rooms_in_work()
            if partition_of(agent.id, room) == partition
        )

    def _load_doc(self) -> dict[str, Any]:
        agents = [a for a in self._agents() if a.started]
        return {
            "running_runs": sum(a.running_runs() for a in agents),
            "active_rooms": sum(len(a.pipeline.rooms_in_work()) for a in agents),
            "messages": self.load.messages,
            "waiting_messages": self.load.waiting,
            "lagging_runs": sum(waiting_runs(a) for a in agents),
            "plugins": self.load.plugins(),
        }

    async def _sweep(self, live_hosts: list[str], read_at_ms: int) -> int:
        """End the runs of hosts no longer in the deployment (`interrupted`): each once, whichever
        host gets there first. A run's start time is its host's clock, `read_at_ms` the database's:
        only runs started a lease before the read are ended, so a host that joined after the read
        and whose clock is behind (by less than a lease) never has its first runs swept; a dead
        host's last runs are ended a lease later, about when its rooms move anyway."""
        started_before_ms = read_at_ms - int(self.config.lease_s * 1000)
        ended = await self.store.interrupt_orphaned_runs(live_hosts, started_before_ms)
        for run in ended:
            log.warning(
                "run %s (agent %s, room %s, message %s) was left going by a host that left the deployment: %s",
                run.id,
                run.agent_id,
                run.room_id,
                run.message_id,
                run.error,
                extra={"agent_id": run.agent_id},
            )
        return len(ended)
