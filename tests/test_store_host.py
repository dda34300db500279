"""The store as the host uses it: chosen by the configuration, refused in one line when it cannot
be used (the host exits non-zero, no traceback, no password), and runs a killed host left going
ended `interrupted` at the next start."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from store_backends import PG_URL

from host.config import ConfigError, DatabaseConfig, load_config
from host.host import Host
from host.store import PostgresStore, RunRecord, SQLiteStore
from host.store.migrations import LATEST

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`agenthost serve` that is expected to refuse to start."""
    return subprocess.run(
        [AGENTHOST, "serve", "--listen", f"unix://{tmp_path}/host.sock", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://someone:hunter2@127.0.0.1:9/nowhere?schema=s1&password=hunter3"
    result = serve(tmp_path, AGENTHOST_DATABASE_URL=url)
    assert result.returncode != 0
    assert result.stderr.startswith(
        "agenthost: cannot reach the database at postgresql://someone@127.0.0.1:9/nowhere?schema=s1: "
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "hunter" not in result.stderr + result.stdout


def test_a_data_directory_of_a_newer_version_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    with sqlite3.connect(tmp_path / "data" / "agenthost.db") as db:
        db.execute("CREATE TABLE store_schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at_ms INTEGER)")
        db.execute("INSERT INTO store_schema_version VALUES (?, 'future', 0)", (LATEST + 5,))
    db.close()
    (tmp_path / "data" / "agenthost.db").chmod(0o600)
    result = serve(tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith(
        f"agenthost: the database at {tmp_path / 'data' / 'agenthost.db'} has store schema version {LATEST + 5}"
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_database_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTHOST_DATABASE_URL", raising=False)
    config = tmp_path / "agenthost.toml"
    assert load_config(None).database == DatabaseConfig()
    config.write_text('[database]\nurl = "postgresql://u@db/x?schema=agents"\nmax_content_bytes = 4096\n')
    assert load_config(config).database == DatabaseConfig("postgresql://u@db/x?schema=agents", 4096)
    monkeypatch.setenv("AGENTHOST_DATABASE_URL", "postgresql://u@other/y")
    assert load_config(config).database == DatabaseConfig("postgresql://u@other/y", 4096)  # the variable wins
    monkeypatch.setenv("AGENTHOST_DATABASE_URL", "mysql://u@db/x")
    with pytest.raises(ConfigError, match=r"^\$AGENTHOST_DATABASE_URL: database url must be postgresql://"):
        load_config(config)
    monkeypatch.delenv("AGENTHOST_DATABASE_URL")
    for bad, why in (
        ('url = "sqlite:///x.db"', "database url must be postgresql://"),
        ('url = "postgresql://u@db/x?schema=a;b"', "is not a plain SQL identifier"),
        ("max_content_bytes = 10", "max_content_bytes must be a whole number of bytes, at least 1024"),
        ("pool = 3", r"unknown key\(s\) in \[database\]: pool"),
    ):
        config.write_text(f"[database]\n{bad}\n")
        with pytest.raises(ConfigError, match=why):
            load_config(config)


async def test_the_host_opens_sqlite_in_a_private_data_directory(start_host: Callable[..., Awaitable[Host]]) -> None:
    host = await start_host()
    assert isinstance(host, Host) and isinstance(host.store, SQLiteStore)
    data_dir = host.config.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "agenthost.db").stat().st_mode) == 0o600


@pytest.mark.skipif(not PG_URL, reason="AGENTHOST_TEST_DATABASE_URL is not set")
async def test_the_host_opens_postgresql_when_configured(start_host: Callable[..., Awaitable[Host]]) -> None:
    import uuid

    import asyncpg

    schema = "store_host_" + uuid.uuid4().hex[:12]
    try:
        host = await start_host(database=DatabaseConfig(url=f"{PG_URL}?schema={schema}"))
        assert isinstance(host, Host) and isinstance(host.store, PostgresStore)
        await host.store.cache_set(host.agent_id, "k", 1)
        assert await host.store.cache_get(host.agent_id, "k") == 1
    finally:
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_runs_a_killed_host_left_going_are_ended_interrupted_at_start(
    start_host: Callable[..., Awaitable[Host]], caplog: pytest.LogCaptureFixture
) -> None:
    first = await start_host()
    assert isinstance(first, Host)
    agent = first.agent_id
    going = await first.store.start_run(RunRecord(agent, room_id="room-1", message_id="m1"))
    done = await first.store.start_run(RunRecord(agent, room_id="room-1", message_id="m2"))
    await first.store.end_run(agent, done.id, "completed")
    await first.stop()
    with caplog.at_level(logging.WARNING, logger="host"):
        second = await start_host()
    assert isinstance(second, Host)
    run = await second.store.get_run(agent, going.id)
    assert run is not None and run.status == "interrupted"
    assert (await second.store.get_run(agent, done.id)).status == "completed"  # type: ignore[union-attr]
    assert (
        f"run {going.id} (room room-1, message m1) never ended: the host stopped during it; ended as interrupted"
        in caplog.text
    )


async def test_a_run_going_when_the_host_is_sigkilled_is_ended_interrupted_after_restart(tmp_path: Path) -> None:
    """A real host process killed with SIGKILL while a run is recorded as going (recorded here
    through a second store on its file, as the pipeline's run tracking will record it)."""
    config = tmp_path / "agenthost.toml"
    config.write_text('data_dir = "data"\nrouter_address = "off"\nagent_id = "agent-killed"\n')
    address = f"unix://{tmp_path}/host.sock"
    env = {**os.environ, "AGENTHOST_ADDR": address, "AGENTHOST_DATA_DIR": str(tmp_path / "data")}

    def start(log: Path) -> subprocess.Popen[bytes]:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [AGENTHOST, "serve", "--listen", address, "--config", str(config)], env=env, stdout=out, stderr=out
            )
        waited = subprocess.run([AGENTHOST, "wait", "--timeout", "30"], env=env, capture_output=True, timeout=60)
        if waited.returncode != 0:
            proc.kill()
            proc.wait()
        assert waited.returncode == 0, log.read_text()
        return proc

    first = start(tmp_path / "first.log")
    try:
        beside = await SQLiteStore.open(tmp_path / "data" / "agenthost.db")
        going = await beside.start_run(RunRecord("agent-killed", room_id="room-1", message_id="m1"))
        await beside.close()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    second = start(tmp_path / "second.log")
    try:
        said = f"run {going.id} (room room-1, message m1) never ended: the host stopped during it; ended as interrupted"
        assert said in (tmp_path / "second.log").read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    store = await SQLiteStore.open(tmp_path / "data" / "agenthost.db")
    try:
        run = await store.get_run("agent-killed", going.id)
        assert run is not None and run.status == "interrupted" and run.ended_at_ms >= going.started_at_ms
    finally:
        await store.close()
