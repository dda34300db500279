"""Several `agenthost serve` processes as one deployment on one PostgreSQL schema (its store, its
coordination tables and, when the hosts spawn routers, its router ledger), for
tests/test_deployment.py and bench/scale.py. Each host is bench/load.py's HostProcess in a
directory of its own; its gRPC address is its unix socket there, which the other hosts forward to.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from agenthost.v1 import agent_pb2
from load import TOKEN, HostProcess

PARTITIONS = 64  # the [deployment] default


class Deployment:
    """Host processes sharing `server`'s schema `schema`, and every process they started.

    `router`: the hosts' router_address ("" spawns a router each); `extra`: TOML appended to each
    host's config; `allow`: the plugins each loads; `queue`: False runs the hosts with no
    [deployment] (each on its own, on the same store); `lease_s`/`tick_s`: the deployment's."""

    def __init__(
        self,
        root: Path,
        server: str,
        schema: str,
        router: str,
        *,
        extra: str = "",
        allow: tuple[str, ...] = (),
        queue: bool = True,
        lease_s: float = 6.0,
        tick_s: float = 1.0,
    ) -> None:
        self.root, self.server, self.schema = root, server, schema
        self.router, self.extra, self.allow, self.queue = router, extra, allow, queue
        self.lease_s, self.tick_s = lease_s, tick_s
        self.url = f"{server}?schema={schema}"
        self.hosts: dict[str, HostProcess] = {}
        self.accepting: list[str] = []  # the hosts clients send to (a load balancer's list)
        self.processes: dict[int, float] = {}  # pid -> create time, of every host and its children
        character: dict[str, Any] = {"name": "Echo", "system": "You are Echo.", "bio": ["Echoes."]}
        character["settings"] = {"DOUBLE_MESSAGE_POLICY": "queue"}  # every message answered, in order
        root.mkdir(parents=True, exist_ok=True)
        (root / "echo.json").write_text(json.dumps(character))

    def config(self, name: str) -> Path:
        """Host `name`'s directory and agenthost.toml (its host id: host-NAME)."""
        directory = self.root / name
        directory.mkdir()
        deployment = textwrap.dedent(f"""\
            [deployment]
            queue_url = "{self.url}"
            host_id = "host-{name}"
            lease_s = {self.lease_s}
            tick_s = {self.tick_s}
            """)
        path = directory / "agenthost.toml"
        path.write_text(
            textwrap.dedent(f"""\
            api_token = "{TOKEN}"
            data_dir = "data"
            router_address = "{self.router}"
            characters = ["{self.root}/echo.json"]
            [plugins]
            allow = {json.dumps(list(self.allow))}
            [database]
            url = "{self.url}"
            """)
            + (deployment if self.queue else "")
            + self.extra
        )
        return path

    async def start(self, *names: str) -> None:
        """Start hosts `names`, wait until they are READY, and add them to the clients' list."""
        for name in names:
            self.hosts[name] = HostProcess(self.root / name, self.config(name))
        try:
            await asyncio.gather(*(self.hosts[n].wait_ready(120) for n in names))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.logs()}") from None
        for name in names:
            self.note_processes(name)
            self.accepting.append(name)

    def note_processes(self, name: str) -> None:
        """Remember host `name`'s process and its descendants (see left_behind)."""
        try:
            host = psutil.Process(self.hosts[name].proc.pid)
            for proc in (host, *host.children(recursive=True)):
                self.processes[proc.pid] = proc.create_time()
        except psutil.Error:
            pass

    async def status(self, name: str) -> agent_pb2.GetStatusResponse:
        return await self.hosts[name].status()

    async def owners(self, name: str) -> dict[int, str]:
        """Each partition's owner (host id) as host `name` last read the deployment."""
        status = await self.status(name)
        return {p: h.host_id for h in status.deployment.hosts for p in h.partitions}

    async def settled(self, names: list[str], timeout: float = 30.0) -> dict[int, str]:
        """Wait until every partition is owned by one of `names`, each owning some, all agreeing."""
        deadline = time.monotonic() + timeout
        ids = {f"host-{n}" for n in names}
        while True:
            views = [await self.owners(n) for n in names]
            first = views[0]
            if len(first) == PARTITIONS and set(first.values()) == ids and all(v == first for v in views):
                return first
            if time.monotonic() > deadline:
                raise RuntimeError(f"the partitions did not settle over {sorted(ids)}: {views}\n{self.logs()}")
            await asyncio.sleep(0.2)

    def logs(self, lines: int = 25) -> str:
        """The last lines of each host's log."""
        out = []
        for name in self.hosts:
            path = self.root / name / "host.log"
            tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- host {name} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def left_behind(self) -> list[str]:
        """The noted processes still running (zombies count as gone)."""
        alive = []
        for pid, created in self.processes.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid} {' '.join(proc.cmdline()[:4])}")
            except psutil.Error:
                continue
        return alive

    async def stop(self) -> None:
        """Stop the hosts still running (SIGTERM, SIGKILL after 30 s)."""
        await asyncio.gather(*(h.stop() for h in self.hosts.values()))

    async def drop(self) -> None:
        """Drop the schema (store, coordination tables, ledger)."""
        conn = await asyncpg.connect(self.server)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()
