"""The host's config file: the README's example is valid, mistakes are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from host.config import ConfigError, load_config

README = Path(__file__).resolve().parent.parent / "README.md"
AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


def readme_example() -> str:
    return README.read_text().split("```toml", 1)[1].split("```", 1)[0]


def test_the_readme_example_loads_as_documented(tmp_path: Path) -> None:
    path = tmp_path / "agenthost.toml"
    path.write_text(readme_example().replace('router_address = ""', 'router_address = "off"'))
    config = load_config(path)
    assert config.router_address == "off"  # a top-level key, not swallowed by a table above it
    assert config.settings == {"WEATHER_UNITS": "metric"}
    assert config.allow == ("time", "weather")
    assert config.plugin_config == {"weather": {"WEATHER_UNITS": "imperial"}}
    assert [(r.name, r.address, r.ca_file) for r in config.remote] == [
        ("faraway", "10.0.0.5:7600", str(tmp_path / "certs/ca.crt"))
    ]
    assert config.supervision.drain_timeout == 30.0
    assert config.tls is not None and config.tls.cert_file == str(tmp_path / "certs/host.crt")
    assert config.secrets == {"OPENWEATHER_API_KEY": "..."}
    assert config.grants["weather"].env == ("HTTPS_PROXY",) and config.grants["weather"].secrets == (
        "OPENWEATHER_API_KEY",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lisen = 'x'", "unknown key(s) lisen"),
        ("[plugins]\nalow = ['time']", "unknown key(s) in [plugins]: alow"),
        ("[plugins.remote.far]\naddress = 'h:1'\nca_file = 'a'", "[plugins.remote.far] needs cert_file, key_file"),
        (
            "[plugins.remote.far]\naddress='h:1'\nca_file='a'\ncert_file='b'\nkey_file='c'\nrouter_address='off'",
            "unknown key(s) in [plugins.remote.far]: router_address",
        ),
        ("listen = ", "is not valid TOML"),
        ("[attachments]\nmax_size = 5", "unknown key(s) in [attachments]: max_size"),
        ("[attachments]\nmax_media_bytes = 9000000", "[attachments] max_media_bytes can be at most 3145728"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agenthost.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_serve_with_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "agenthost.toml"
    path.write_text("[plugins]\nalow = ['time']\n")
    result = subprocess.run([AGENTHOST, "serve", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"agenthost: config file {path}: unknown key(s) in [plugins]: alow\n"


def test_the_attachments_table_reaches_the_pipeline_settings(tmp_path: Path) -> None:
    path = tmp_path / "agenthost.toml"
    path.write_text("[attachments]\nallow_private = true\nfile_roots = ['docs']\nprompt_chars = 50\n")
    config = load_config(path)
    assert config.attachments.fetch.allow_private is True
    assert config.attachments.fetch.file_roots == (tmp_path / "docs",)
    assert config.attachments.prompt_chars == 50
    assert load_config(None).attachments.fetch.allow_private is False  # private addresses refused by default
