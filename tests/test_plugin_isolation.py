"""Secrets reach only who needs them: a plugin's environment and settings hold what the
configuration grants it, and the data directory is its owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from support import fixture_spec

from host.config import Grant, load_config
from plugin_sdk import Content, Memory


async def what_alpha_and_beta_see(host, key: str = "") -> dict[str, dict]:
    seen = {}
    for name in ("alpha", "beta"):
        events = [
            e
            async for e in host.components.invoke_action(
                f"{name.upper()}_WHAT_I_SEE", Memory(room_id="r", content=Content(text="?")), options={"key": key}
            )
        ]
        seen[name] = events[-1].values
    return seen


async def test_a_plugin_gets_a_minimal_environment_plus_what_is_granted(start_host, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-plugins")
    monkeypatch.setenv("SOME_TOOL_HOME", "/opt/tool")
    host = await start_host(
        fixture_spec("alpha"), fixture_spec("beta"), grants={"beta": Grant(env=("SOME_TOOL_HOME",))}
    )
    seen = await what_alpha_and_beta_see(host)
    for name in ("alpha", "beta"):
        assert "OPENAI_API_KEY" not in seen[name]["env"]
        assert {"PATH", "HOME", "AGENTHOST_TEST_MODE"} <= set(seen[name]["env"])  # what it needs, its spec's env
    assert "SOME_TOOL_HOME" not in seen["alpha"]["env"]
    assert "SOME_TOOL_HOME" in seen["beta"]["env"]


@pytest.mark.parametrize("key, alpha, beta", [("API_TOKEN", None, "s3cret"), ("GREETING", "hello from settings", None)])
async def test_get_setting_gives_secrets_only_to_plugins_granted_them(start_host, key, alpha, beta):
    host = await start_host(
        fixture_spec("alpha"),
        fixture_spec("beta"),
        secrets={"API_TOKEN": "s3cret"},
        grants={"beta": Grant(secrets=("API_TOKEN",))},
        plugin_config={"beta": {"GREETING": ""}},  # beta's own (empty) value wins over the shared one
    )
    seen = await what_alpha_and_beta_see(host, key)
    assert seen["alpha"]["setting"] == alpha
    assert (seen["beta"]["setting"] or None) == beta


async def test_the_data_directory_and_database_are_the_owners_alone(start_host, host_config):
    host_config.data_dir.mkdir(mode=0o755)
    await start_host()
    assert stat.S_IMODE(host_config.data_dir.stat().st_mode) == 0o700
    files = list(host_config.data_dir.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files


def test_the_data_directory_comes_from_the_flag_then_the_environment_then_the_file(tmp_path: Path, monkeypatch):
    config = tmp_path / "agenthost.toml"
    config.write_text('data_dir = "from-file"\n')
    assert load_config(config).data_dir == tmp_path / "from-file"
    monkeypatch.setenv("AGENTHOST_DATA_DIR", "/srv/from-env")
    assert load_config(config).data_dir == Path("/srv/from-env")
    assert load_config(config, data_dir=Path("/srv/from-flag")).data_dir == Path("/srv/from-flag")
