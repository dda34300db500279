"""A throwaway PostgreSQL cluster for a benchmark run: its own data directory in a temporary
directory, trust authentication, a free port on 127.0.0.1 and a unix socket beside the data, no
fsync. It can be restarted (a fault of bench/load.py's chaos schedule) without touching the
machine's shared server, and is stopped and removed on leaving its `with` block, also on an
error or Ctrl-C.

The system's server binaries are used (/usr/lib/postgresql/VERSION/bin, the highest version, or
$PG_BIN). initdb refuses to run as root: as root every command runs as the `postgres` OS user
(runuser), which owns the temporary directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

#: Where the server binaries are looked for (the highest version wins), unless $PG_BIN says.
BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The OS user the server runs as when we are root.
OS_USER = "postgres"
#: How long a start or stop may take (pg_ctl -t).
WAIT_S = 60


class ClusterError(RuntimeError):
    """The cluster could not be made, started or stopped (the command's output says why)."""


def find_bin_dir() -> Path | None:
    """The directory of initdb, pg_ctl and postgres, or None when the machine has none."""
    if os.environ.get("PG_BIN"):
        found = Path(os.environ["PG_BIN"])
        return found if (found / "initdb").exists() else None

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    dirs = sorted((d for d in glob.glob(BIN_GLOB) if Path(d, "initdb").exists()), key=version)
    return Path(dirs[-1]) if dirs else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """One cluster: `start()` (or `with`) makes and starts it, `restart()` stops and starts it
    again, `close()` stops it and removes its directory."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise ClusterError(f"no PostgreSQL server binaries (initdb) under {BIN_GLOB}; set $PG_BIN")
        self.bin_dir = found
        self.root = Path(tempfile.mkdtemp(prefix="agenthost-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_user = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The URL of its `postgres` database, as the superuser `postgres` (trust: no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._as_user:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT_S + 30, check=False, cwd="/")
        return done

    def _check(self, done: subprocess.CompletedProcess[str], what: str) -> None:
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            server = self.log.read_text(errors="replace").strip().splitlines()[-3:] if self.log.exists() else []
            raise ClusterError(f"{what} failed ({done.returncode}): {' | '.join(tail + server)}")

    def start(self) -> "PrivateCluster":
        """initdb, then start the server on a free port (another one if that was taken meanwhile)."""
        try:
            self.sockets.mkdir()
            if self._as_user:
                user = pwd.getpwnam(OS_USER)
                for path in (self.root, self.sockets):
                    os.chown(path, user.pw_uid, user.pw_gid)
            init = ("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
            self._check(self._run(*init, "--no-instructions"), "initdb")
            for attempt in range(3):
                self.port = free_port()
                done = self._pg_ctl("start")
                if done.returncode == 0:
                    return self
                if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                    self._check(done, "pg_ctl start")
        except BaseException:
            self.close()
            raise
        return self

    def _pg_ctl(self, action: str, *extra: str) -> subprocess.CompletedProcess[str]:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        if action == "stop":
            return self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", str(WAIT_S), *extra)
        argv = ("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(WAIT_S))
        return self._run(*argv, "-o", options, *extra)

    def restart(self, down_s: float = 0.0) -> tuple[float, float]:
        """Stop the server (fast: sessions are ended, as an administrator's restart does), leave
        it down `down_s` seconds more, and start it again; (seconds to stop, seconds from the
        stop's start until it accepted connections again)."""
        began = time.monotonic()
        self._check(self._pg_ctl("stop", "-m", "fast"), "pg_ctl stop")
        stopped = time.monotonic()
        time.sleep(down_s)
        self._check(self._pg_ctl("start"), "pg_ctl start")
        return stopped - began, time.monotonic() - began

    def close(self) -> None:
        """Stop the server (fast, then immediate) and remove its directory."""
        if self.data.joinpath("postmaster.pid").exists():
            if self._pg_ctl("stop", "-m", "fast").returncode != 0:
                self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PrivateCluster":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
