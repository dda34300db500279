"""The data directory: every conversation, the ledger and the API token live there, so only
its owner may read it (0700, files 0600)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from plugin_sdk.auth import token_from_file

log = logging.getLogger(__name__)

DATABASE_FILE = "agenthost.db"
TOKEN_FILE = "api-token"  # the host's API token, when the configuration gives none


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory (0700) and its database file (0600), tightening either if
    group or others could read them; returns the database file's path."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)
    database = path / DATABASE_FILE
    os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    # SQLite gives its journal files (-wal, -shm) the database file's mode.
    for file in (database, path / f"{DATABASE_FILE}-wal", path / f"{DATABASE_FILE}-shm"):
        if file.exists():
            _tighten(file, 0o600)
    return database


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        log.warning("%s was readable by others (mode %o); now %o", path, current, mode)
        path.chmod(mode)


def api_token(data_dir: Path, configured: str = "") -> str:
    """The host's API token: `configured` (config api_token or $AGENTHOST_TOKEN), else the one
    kept in the data directory, made there (0600) on first use."""
    return configured or token_from_file(data_dir / TOKEN_FILE)
