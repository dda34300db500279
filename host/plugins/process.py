"""Start a plugin process, read its handshake, forward its output, stop it."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import sys
from pathlib import Path

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

from ..logs import LEVELS, plugin_logger

_STDERR_TAIL = 10


class StartError(RuntimeError):
    """A plugin process that did not come up; the message says why, in one line."""


class PluginProcess:
    """One running plugin process and its handshake."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, socket_dir: Path) -> None:
        self.name = name
        self.proc = proc
        self._socket_dir = socket_dir
        self.handshake: Handshake | None = None
        self.log = plugin_logger(name)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._forwarders: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @classmethod
    async def start(cls, spec: PluginSpec, socket_dir: Path, start_timeout: float) -> "PluginProcess":
        """Spawn the plugin and wait for its handshake; StartError says what went wrong."""
        argv = [sys.executable, "-m", spec.module] if spec.module else list(spec.command)
        env = {
            **os.environ,
            **spec.env,
            MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
            ENV_APP_VERSIONS: ",".join(map(str, SUPPORTED_APP_VERSIONS)),
            ENV_SOCKET_DIR: str(socket_dir),
            ENV_LISTEN: "",  # spawned plugins always serve on the private unix socket
            "PYTHONUNBUFFERED": "1",
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
        process = cls(spec.name, proc, socket_dir)
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
            code = await self.proc.wait()
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
            level, message = _parse_line(text)
            if which == "stderr":
                self._stderr_tail.append(message)
            self.log.log(level, message)

    async def wait(self) -> int:
        """Wait for the process to exit; returns its exit code."""
        code = await self.proc.wait()
        await asyncio.gather(*self._forwarders, return_exceptions=True)
        return code

    async def stop(self, grace: float) -> None:
        """SIGTERM the plugin's process group, SIGKILL after `grace` seconds, remove its socket."""
        if self.proc.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except asyncio.TimeoutError:
                self._signal(signal.SIGKILL)
                await self.proc.wait()
        for task in self._forwarders:
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
                except asyncio.TimeoutError:
                    task.cancel()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.remove_socket()

    def kill(self) -> None:
        """SIGKILL the plugin's process group now."""
        self._signal(signal.SIGKILL)

    def remove_socket(self) -> None:
        """Remove the plugin's socket file if it is still there (the plugin was killed)."""
        if self.handshake is None or self.handshake.network != "unix":
            return
        path = Path(self.handshake.address)
        if path.parent == self._socket_dir:  # never unlink a path outside our directory
            path.unlink(missing_ok=True)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal", "panic": "fatal", "err": "error", "information": "info"}


def _parse_line(text: str) -> tuple[int, str]:
    """A plugin's output line as (level, message). JSON lines with a level and a message
    ("level"/"msg", "@level"/"@message" as hclog writes, any case) keep their level;
    anything else is info."""
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return logging.INFO, text
        if isinstance(doc, dict):
            name = str(doc.get("level", doc.get("@level", "info"))).lower()
            level = LEVELS.get(_LEVEL_ALIASES.get(name, name), logging.INFO)
            message = str(doc.get("msg", doc.get("message", doc.get("@message", text))))
            if doc.get("exc"):
                message += f"\n{doc['exc']}"
            return level, message
    return logging.INFO, text
