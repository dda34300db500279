"""Start a plugin process, read its handshake, forward its output, stop it and every
process it started."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

from plugin_sdk.protocol import (
    ENV_APP_VERSIONS,
    ENV_LISTEN,
    ENV_SOCKET_DIR,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    SUPPORTED_APP_VERSIONS,
    Handshake,
    HandshakeError,
    parse_handshake,
)
from plugin_sdk.spec import PluginSpec

from ..logs import LEVELS, LOG_SCOPE, plugin_logger

_STDERR_TAIL = 10
KILL_WAIT = 2.0
"""After SIGKILL, how long stop() keeps killing what it finds of a plugin's tree (a process
forked between two scans) before it gives up on it with a warning."""
_SCAN_INTERVAL = 0.05
TREE_REFRESH = 1.0
"""The least time between two scans of a running plugin's tree (refresh_tree)."""
TREE_ENV = "AGENTHOST_PROCESS_TREE"
"""Set to a value unique to each started process and inherited by everything it starts:
how the host finds a plugin's descendants, even those that left its process group (setsid)
or were re-parented when their parent died."""


_PASSED_ON = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM"}
_PASSED_ON |= {"TMPDIR", "TMP", "TEMP", "VIRTUAL_ENV", "LD_LIBRARY_PATH"}
_PASSED_ON_PREFIXES = ("LC_", "PYTHON", "GRPC_", "OTEL_")  # OTEL_: tracing (host/tracing.py)


def plugin_environment(granted: Iterable[str] = ()) -> dict[str, str]:
    """The part of the host's environment a plugin process gets: what a program needs to run
    (PATH, HOME, user, locale, temp dir, the Python and gRPC runtimes' settings) and the
    variables its grant names; never the rest (cloud keys reach only the router)."""
    keep = _PASSED_ON | set(granted)
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith(_PASSED_ON_PREFIXES)}


def processes_of_tree(marker: str, root: int = 0, known: Mapping[int, int] | None = None) -> dict[int, int]:
    """The live processes (pid -> start time) of the tree started as `root`: those whose
    environment carries `marker` as TREE_ENV; those still in root's session or process group;
    `root` itself while it is this process's child; those `known` from an earlier scan (same
    start time, so not a reused pid), even once re-parented; and every child of any of these.
    A process that emptied its environment is found by the others (while its parent lives)."""
    needle = f"{TREE_ENV}={marker}".encode()
    known = known or {}
    seen: dict[int, tuple[int, int, int, int]] = {}  # pid -> (ppid, group, session, start time)
    members: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":  # dead, not reaped yet
                continue
            ppid, group, session, start = int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
            seen[pid] = (ppid, group, session, start)
            if known.get(pid) == start or (root and (session == root or group == root)):
                members.add(pid)
            elif pid == root and ppid == os.getpid():
                members.add(pid)
            else:
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0"):
                        members.add(pid)
        except (OSError, IndexError, ValueError):  # gone, or not ours to read
            continue
    grew = True
    while grew:  # children of members, to any depth
        grew = False
        for pid, (ppid, *_) in seen.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return {pid: seen[pid][3] for pid in members}


class StartError(RuntimeError):
    """A plugin process that did not come up; the message says why, in one line."""


class PluginProcess:
    """One running plugin process and its handshake."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, socket_dir: Path, tree: str) -> None:
        self.name = name
        self.proc = proc
        self.tree = tree
        self._socket_dir = socket_dir
        self.handshake: Handshake | None = None
        self.log = plugin_logger(name)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._forwarders: list[asyncio.Task[None]] = []
        self._members: dict[int, int] = {}  # its tree as last scanned: pid -> start time
        self._scanned = 0.0  # when (time.monotonic) it was

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @classmethod
    async def start(
        cls, spec: PluginSpec, socket_dir: Path, start_timeout: float, inherited: Mapping[str, str]
    ) -> "PluginProcess":
        """Spawn the plugin with the `inherited` environment (plus the protocol's variables and
        its spec's env) and wait for its handshake; StartError says what went wrong."""
        argv = [sys.executable, "-m", spec.module] if spec.module else list(spec.command)
        env = {
            **inherited,
            **spec.env,
            MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
            ENV_APP_VERSIONS: ",".join(map(str, SUPPORTED_APP_VERSIONS)),
            ENV_SOCKET_DIR: str(socket_dir),
            ENV_LISTEN: "",  # spawned plugins always serve on the private unix socket
            "PYTHONUNBUFFERED": "1",
            TREE_ENV: uuid.uuid4().hex,
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartError(f"plugin {spec.name!r} cannot be started ({' '.join(argv)}): {exc.strerror}") from None
        process = cls(spec.name, proc, socket_dir, env[TREE_ENV])
        process._forwarders.append(asyncio.create_task(process._forward(proc.stderr, "stderr")))
        try:
            process.handshake = await process._read_handshake(start_timeout)
        except BaseException:
            await process.stop(grace=0)
            raise
        process._forwarders.append(asyncio.create_task(process._forward(proc.stdout, "stdout")))
        return process

    async def _read_handshake(self, timeout: float) -> Handshake:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            raise StartError(f"plugin {self.name!r} printed no handshake within {timeout:g}s") from None
        except (ValueError, asyncio.LimitOverrunError):
            raise StartError(f"plugin {self.name!r}: first stdout line is not a handshake (over 64 KiB long)") from None
        if not line:
            try:
                code = await asyncio.wait_for(self.wait(), timeout)
            except asyncio.TimeoutError:
                raise StartError(f"plugin {self.name!r} closed its stdout without printing a handshake") from None
            await asyncio.sleep(0.05)  # let the stderr forwarder catch the last lines
            detail = f": {self._stderr_tail[-1]}" if self._stderr_tail else ""
            raise StartError(f"plugin {self.name!r} exited with code {code} before its handshake{detail}")
        try:
            return parse_handshake(line.decode(errors="replace"), SUPPORTED_APP_VERSIONS)
        except HandshakeError as exc:
            raise StartError(f"plugin {self.name!r}: {exc}") from None

    async def _forward(self, stream: asyncio.StreamReader | None, which: str) -> None:
        """Send the plugin's output lines to the host log, tagged with its name."""
        if stream is None:
            return
        LOG_SCOPE.set(("", ""))  # this task's own: a run that started the plugin is not every line's
        logger = self.log.logger
        while True:
            try:
                raw = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue  # an over-long line: skip it, keep reading
            if not raw:
                return
            text = raw.decode(errors="replace").rstrip()
            if not text:
                continue
            line = _parse_line(text)
            if which == "stderr":
                self._stderr_tail.append(line.message)
            scope = {"plugin": self.name, "agent_id": line.agent_id, "run_id": line.run_id}
            logger.log(line.level, line.message, extra=scope)

    async def wait(self) -> int:
        """Wait for the process itself to exit; returns its exit code. Not for its output
        pipes to close, as asyncio's Process.wait() does: processes it started may hold them
        open long after (a `sleep` it spawned, one that escaped the stop)."""
        if self.proc.returncode is None:
            await _exit_of(self.proc)
        assert self.proc.returncode is not None
        if self._forwarders:
            await asyncio.wait(self._forwarders, timeout=0.2)  # its last lines, if its pipes closed
        return self.proc.returncode

    async def stop(self, grace: float) -> None:
        """SIGTERM the plugin and every process it started, SIGKILL what is left after
        `grace` seconds (again and again for up to KILL_WAIT seconds, so that a process forked
        between two scans is killed too), remove its socket. Returns within grace + KILL_WAIT
        seconds (and a second for its output), whatever the plugin does."""
        tree = await self._scan()
        if self.proc.returncode is None or tree:
            self._signal(signal.SIGTERM, tree)
            deadline = time.monotonic() + grace
            while (tree or self.proc.returncode is None) and time.monotonic() < deadline:
                await asyncio.sleep(_SCAN_INTERVAL)
                tree = await self._scan()
            deadline = time.monotonic() + KILL_WAIT
            while tree or self.proc.returncode is None:
                if time.monotonic() > deadline:
                    left = sorted({*tree, *([self.proc.pid] if self.proc.returncode is None else [])})
                    self.log.warning("processes %s survived SIGKILL for %.0fs; leaving them", left, KILL_WAIT)
                    break
                self._signal(signal.SIGKILL, tree)
                await asyncio.sleep(_SCAN_INTERVAL / 2)
                tree = await self._scan()
        for task in self._forwarders:
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
                except asyncio.TimeoutError:
                    task.cancel()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.remove_socket()

    @property
    def descendants(self) -> list[int]:
        """The processes it started, as last scanned (see refresh_tree)."""
        return [pid for pid in self._members if pid != self.proc.pid]

    async def refresh_tree(self) -> None:
        """Scan for the processes it started (at most every TREE_REFRESH seconds; a scan reads
        every process's stat, ~8 ms for 120 processes on a busy box). The supervisor asks on
        every health check, so that one which leaves every mark but its parent (a new session, an
        emptied environment) is still known after its parent, the plugin, exits first."""
        if time.monotonic() - self._scanned >= TREE_REFRESH:
            await self._scan()

    async def _scan(self) -> list[int]:
        """Its tree now; a process once found stays in it (however it leaves the others' marks)."""
        self._scanned = time.monotonic()
        self._members = await asyncio.to_thread(processes_of_tree, self.tree, self.proc.pid, self._members)
        return list(self._members)

    def kill(self) -> None:
        """SIGKILL the plugin and every process it started, now."""
        self._members = processes_of_tree(self.tree, self.proc.pid, self._members)
        self._signal(signal.SIGKILL, list(self._members))

    def remove_socket(self) -> None:
        """Remove the plugin's socket file if it is still there (the plugin was killed)."""
        if self.handshake is None or self.handshake.network != "unix":
            return
        path = Path(self.handshake.address)
        if path.parent == self._socket_dir:  # never unlink a path outside our directory
            path.unlink(missing_ok=True)

    def _signal(self, sig: int, tree: list[int]) -> None:
        """Signal the plugin's process group, the plugin itself while it has not been reaped
        (its environment may have lost TREE_ENV: it exec'd with another), and each process of its tree."""
        own = [(self.proc.pid, os.kill)] if self.proc.returncode is None else []
        for target, send in ((self.proc.pid, os.killpg), *own, *((pid, os.kill) for pid in tree)):
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):  # gone (its pid may be another's now)
                pass


async def _exit_of(proc: asyncio.subprocess.Process) -> None:
    """Return once `proc` has exited and been reaped (its returncode set). A pidfd says when it
    exits; without one (not Linux 5.3+) its returncode is polled."""
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    fd = -1
    try:
        fd = os.pidfd_open(proc.pid)

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, readable)
    except (AttributeError, OSError):  # no pidfd, or reaped already (returncode is on its way)
        pass
    try:
        while proc.returncode is None:
            # the child watcher reaps it and sets returncode a moment after it exits
            await asyncio.wait([exited], timeout=0.01 if exited.done() else (0.5 if fd >= 0 else 0.1))
    finally:
        if fd >= 0:
            loop.remove_reader(fd)
            os.close(fd)


_ID_LIMIT = 128
_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal", "panic": "fatal", "err": "error", "information": "info"}


class OutputLine(NamedTuple):
    """A plugin's output line as the host logs it."""

    level: int
    message: str
    agent_id: str = ""  # the run's agent and the run the plugin was working for, when it said so
    run_id: str = ""


def _parse_line(text: str) -> OutputLine:
    """A plugin's output line. JSON lines with a level and a message ("level"/"msg",
    "@level"/"@message" as hclog writes, any case) keep their level, and name the run and agent
    they were written for with "run_id" and "agent_id" (PROTOCOL.md §10); anything else is info."""
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return OutputLine(logging.INFO, text)
        if isinstance(doc, dict):
            name = str(doc.get("level", doc.get("@level", "info"))).lower()
            level = LEVELS.get(_LEVEL_ALIASES.get(name, name), logging.INFO)
            message = str(doc.get("msg", doc.get("message", doc.get("@message", text))))
            if doc.get("exc"):
                message += f"\n{doc['exc']}"
            return OutputLine(level, message, _scope_id(doc.get("agent_id")), _scope_id(doc.get("run_id")))
    return OutputLine(logging.INFO, text)


def _scope_id(value: object) -> str:
    """A run or agent id from a plugin's line: a string of at most 128 characters, else none."""
    return value if isinstance(value, str) and len(value) <= _ID_LIMIT else ""
