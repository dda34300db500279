"""The private directory plugin sockets live in, and clean-up of ones left by dead hosts."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
_PREFIX = "agenthost-"


def runtime_base() -> Path:
    """Where socket directories are made: $XDG_RUNTIME_DIR or the temp dir."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())


def make_socket_dir() -> Path:
    """A new 0700 directory for this host's sockets, after removing dead hosts' ones."""
    base = runtime_base()
    sweep_stale(base)
    path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base))
    path.chmod(0o700)
    return path


def sweep_stale(base: Path) -> None:
    """Remove socket directories whose host process is gone (e.g. it was SIGKILLed)."""
    uid = os.getuid()
    for entry in base.glob(f"{_PREFIX}*-*"):
        try:
            pid = int(entry.name[len(_PREFIX) :].split("-", 1)[0])
            if not entry.is_dir() or entry.stat().st_uid != uid or _alive(pid):
                continue
        except (ValueError, OSError):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        log.debug("removed stale socket directory %s", entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
