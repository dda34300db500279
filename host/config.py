"""Host configuration: a TOML file plus command-line overrides."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .agent.admission import AdmissionSettings, admission_from_table
from .agent.attachment_settings import AttachmentSettings, settings_from_table
from .deployment.settings import DeploymentConfig, deployment_from_table
from .mcp.servers import McpServer, servers_from_table
from .tracing import table_env

DEFAULT_ADDRESS = "127.0.0.1:7531"
DEFAULT_HTTP = "127.0.0.1:7532"  # the HTTP face (host/http): OpenAI-compatible endpoint
HTTP_OFF = "off"
ADDRESS_ENV = "AGENTHOST_ADDR"
HTTP_ENV = "AGENTHOST_HTTP"
DATA_DIR_ENV = "AGENTHOST_DATA_DIR"
TOKEN_ENV = "AGENTHOST_TOKEN"
ROUTER_TOKEN_ENV = "AGENTHOST_ROUTER_TOKEN"
DATABASE_URL_ENV = "AGENTHOST_DATABASE_URL"
DEFAULT_MAX_CONTENT_BYTES = 1024 * 1024  # plugin_sdk.limits.MAX_MEMORY_BYTES: what one call may carry
VECTOR_SEARCH = ("auto", "pgvector", "memory")  # [database] vector_search: host.store.postgres.VECTOR_SEARCH


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class RemotePlugin:
    """A plugin running elsewhere, reached over TCP with mutual TLS."""

    name: str
    address: str
    ca_file: str
    cert_file: str
    key_file: str
    server_name: str = ""


@dataclass(frozen=True)
class ServerTls:
    """The certificate the host's public listener presents ([tls])."""

    cert_file: str
    key_file: str


@dataclass(frozen=True)
class Grant:
    """What the configuration lets one plugin have beyond its own settings."""

    env: tuple[str, ...] = ()  # host environment variables passed to its process
    secrets: tuple[str, ...] = ()  # secret settings its GetSetting may read


@dataclass(frozen=True)
class SupervisionConfig:
    """How plugins are started, watched and restarted."""

    start_timeout: float = 10.0
    call_timeout: float = 30.0
    health_interval: float = 2.0
    health_timeout: float = 2.0
    max_failures: int = 5
    restart_window: float = 60.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    drain_timeout: float = 30.0
    # Deadlines (seconds) per kind of call, each at most call_timeout, and a run's as a whole: a
    # call's deadline is also cut to what is left of its run's, and its expiry cancels the call
    # in the plugin (and a run's, everything under way in it).
    provider_timeout: float = 10.0  # providers and action validates (composing state)
    action_timeout: float = 30.0
    evaluator_timeout: float = 30.0
    model_timeout: float = 30.0  # a plugin's model handler (the router's calls: their own)
    run_timeout: float = 300.0
    # Circuit breakers, one per plugin component: open after this many failures in a row
    # (timeouts count), skipping the component, then one trial call after the cooldown.
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"[supervision] {f.name} must be a number, 0 or more; got {value!r}")
        if self.breaker_failures < 1 or self.breaker_failures != int(self.breaker_failures):
            raise ValueError(
                f"[supervision] breaker_failures must be a whole number, 1 or more; got {self.breaker_failures!r}"
            )
        for name in ("provider_timeout", "action_timeout", "evaluator_timeout", "model_timeout", "run_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"[supervision] {name} must be more than 0 s")


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the store lives ([database])."""

    #: "" = SQLite in the data directory; postgresql://user[:password]@host[:port]/db[?schema=NAME]
    #: for a database several hosts may share. $AGENTHOST_DATABASE_URL, when set, wins over the file.
    url: str = ""
    #: The largest memory the store takes (content and metadata as stored, in bytes).
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    #: Similarity search: "memory" scores in-memory matrices on each host; "pgvector" has
    #: PostgreSQL do it with the pgvector extension (created if missing; the host does not start
    #: when it cannot be); "auto" is "memory", the faster on one host (README, database).
    vector_search: str = "auto"


@dataclass(frozen=True)
class HostConfig:
    """Everything the host needs to start."""

    listen: str = DEFAULT_ADDRESS
    tls: ServerTls | None = None  # required to listen on a non-loopback address
    #: The HTTP face (OpenAI-compatible endpoint): HOST:PORT, :PORT or PORT (port 0 picks one), or
    #: "off". load_config (`agenthost serve`) gives the file's `http`, else $AGENTHOST_HTTP, else
    #: DEFAULT_HTTP, and `serve --http` wins; a config built in code (tests, benchmarks) has it off.
    http: str = HTTP_OFF
    api_token: str = ""  # clients' bearer token; "" = $AGENTHOST_TOKEN, else made in the data directory
    data_dir: Path = Path(".agenthost")
    character: Path | None = None
    #: Several agents: character files, or directories of them (their *.json files); when given,
    #: `character` is not used. `agent_id` applies only when the host runs one agent.
    characters: tuple[Path, ...] = ()
    agent_id: str = ""
    log_level: str = "info"
    log_json: bool = False
    allow: tuple[str, ...] | None = None
    plugin_config: dict[str, dict[str, str]] = field(default_factory=dict)
    remote: tuple[RemotePlugin, ...] = ()
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    attachments: AttachmentSettings = field(default_factory=AttachmentSettings)  # [attachments]
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)  # [admission]
    settings: dict[str, str] = field(default_factory=dict)  # every plugin may read these
    secrets: dict[str, str] = field(default_factory=dict)  # only plugins granted a key may read it
    grants: dict[str, Grant] = field(default_factory=dict)  # by plugin name
    router_address: str = ""  # "" spawns a router; "off" runs without one; else a shared router's address
    router_token: str = ""  # a shared router's token; "" = $AGENTHOST_ROUTER_TOKEN
    mcp: tuple[McpServer, ...] = ()  # [mcp.servers.NAME]: MCP servers run as plugins (host/mcp)
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)  # [deployment]: several hosts
    path: Path | None = None  # the config file, handed to a spawned router for its [router] table


def default_address() -> str:
    """The host address client commands use when --host is not given."""
    return os.environ.get(ADDRESS_ENV, DEFAULT_ADDRESS)


def load_config(path: Path | None, **overrides: Any) -> HostConfig:
    """Read a TOML config file (optional) and apply non-None overrides; the data directory
    comes from the `data_dir` override, else $AGENTHOST_DATA_DIR, else the file."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    base = Path(path).parent if path else Path.cwd()
    try:
        config = replace(_from_dict(raw, base), path=Path(path).resolve() if path else None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    try:
        if os.environ.get(DATABASE_URL_ENV):
            config = replace(
                config, database=_database({**_table(raw, "database"), "url": os.environ[DATABASE_URL_ENV]})
            )
    except ValueError as exc:
        raise ConfigError(f"${DATABASE_URL_ENV}: {exc}") from None
    if not config.api_token and os.environ.get(TOKEN_ENV):
        config = replace(config, api_token=os.environ[TOKEN_ENV])
    if "http" not in raw:
        config = replace(config, http=os.environ.get(HTTP_ENV, "").strip() or DEFAULT_HTTP)
    if not config.router_token and os.environ.get(ROUTER_TOKEN_ENV):
        config = replace(config, router_token=os.environ[ROUTER_TOKEN_ENV])
    if overrides.get("data_dir") is None and os.environ.get(DATA_DIR_ENV):
        overrides["data_dir"] = Path(os.environ[DATA_DIR_ENV])
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(config, **changes) if changes else config


def _from_dict(raw: dict[str, Any], base: Path) -> HostConfig:
    known = ({f.name for f in fields(HostConfig)} - {"path", "grants"}) | {"plugins", "router", "tracing"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    if "tracing" in raw:
        table_env(raw["tracing"])  # checked here; read at Host.start (host/tracing.py)
    plugins = raw.get("plugins", {})
    allow = plugins.get("allow")
    if allow is not None and not (isinstance(allow, list) and all(isinstance(a, str) for a in allow)):
        raise ValueError("plugins.allow must be a list of plugin names")
    plugin_config = {
        name: {str(k): str(v) for k, v in section.items()} for name, section in plugins.get("config", {}).items()
    }
    unknown = set(plugins) - {"allow", "config", "remote", "grants"}
    if unknown:
        raise ValueError(f"unknown key(s) in [plugins]: {', '.join(sorted(unknown))}")
    grants = {name: _grant(name, entry) for name, entry in plugins.get("grants", {}).items()}
    remote = tuple(_remote(name, entry, base) for name, entry in plugins.get("remote", {}).items())
    supervision = SupervisionConfig(**raw.get("supervision", {}))
    database = _database(_table(raw, "database"))
    kwargs: dict[str, Any] = {
        "attachments": settings_from_table(raw.get("attachments", {}), base),
        "admission": admission_from_table(_table(raw, "admission")),
        "plugin_config": plugin_config,
        "remote": remote,
        "supervision": supervision,
        "database": database,
        "allow": tuple(allow) if allow is not None else None,
        "settings": {str(k): str(v) for k, v in raw.get("settings", {}).items()},
        "secrets": {str(k): str(v) for k, v in raw.get("secrets", {}).items()},
        "grants": grants,
        "deployment": deployment_from_table(_table(raw, "deployment")),
    }
    if "mcp" in raw:
        kwargs["mcp"] = servers_from_table(raw["mcp"])
    if "tls" in raw:
        kwargs["tls"] = _tls(raw["tls"], base)
    for key in ("listen", "http", "agent_id", "log_level", "router_address", "router_token", "api_token"):
        if key in raw:
            kwargs[key] = str(raw[key])
    if "log_json" in raw:
        kwargs["log_json"] = bool(raw["log_json"])
    if "data_dir" in raw:
        kwargs["data_dir"] = base / raw["data_dir"]
    if "character" in raw:
        kwargs["character"] = base / raw["character"]
    if "characters" in raw:
        entries = raw["characters"]
        if not (isinstance(entries, list) and all(isinstance(e, str) for e in entries)):
            raise ValueError("characters must be a list of character files or directories")
        kwargs["characters"] = tuple(base / e for e in entries)
    return HostConfig(**kwargs)


def character_files(config: HostConfig) -> list[Path | None]:
    """The character file of each agent the host runs, in order: `characters` (a directory gives
    its *.json files, by name), else `character` (None: the default character)."""
    if not config.characters:
        return [config.character]
    files: list[Path | None] = []
    for entry in config.characters:
        if entry.is_dir():
            found = sorted(entry.glob("*.json"))
            if not found:
                raise ConfigError(f"character directory {entry} has no .json files")
            files.extend(found)
        else:
            files.append(entry)
    return files


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    entry = raw.get(name, {})
    if not isinstance(entry, dict):
        raise ValueError(f"[{name}] must be a table")
    return entry


def _database(entry: dict[str, Any]) -> DatabaseConfig:
    """The [database] table: `url`, `max_content_bytes` and `vector_search`; a URL the store cannot
    use is refused here."""
    unknown = set(entry) - {"url", "max_content_bytes", "vector_search"}
    if unknown:
        raise ValueError(f"unknown key(s) in [database]: {', '.join(sorted(unknown))}")
    url = entry.get("url", "")
    limit = entry.get("max_content_bytes", DEFAULT_MAX_CONTENT_BYTES)
    if not isinstance(url, str):
        raise ValueError("[database] url must be a string")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1024:
        raise ValueError(f"[database] max_content_bytes must be a whole number of bytes, at least 1024; got {limit!r}")
    vector_search = entry.get("vector_search", "auto")
    if vector_search not in VECTOR_SEARCH:
        choices = ", ".join(f'"{v}"' for v in VECTOR_SEARCH)
        raise ValueError(f"[database] vector_search must be one of {choices}; got {vector_search!r}")
    if vector_search == "pgvector" and not url:
        raise ValueError('[database] vector_search = "pgvector" needs a PostgreSQL url (SQLite has no pgvector)')
    if url:
        from .store import check_url  # the store knows which URLs it can open (imported only when one is given)

        check_url(url)
    return DatabaseConfig(url=url, max_content_bytes=limit, vector_search=vector_search)


def _tls(entry: Any, base: Path) -> ServerTls:
    """The [tls] table: cert_file and key_file, relative to the config file."""
    if not isinstance(entry, dict) or set(entry) != {"cert_file", "key_file"}:
        raise ValueError("[tls] needs exactly cert_file and key_file")
    return ServerTls(cert_file=str(base / entry["cert_file"]), key_file=str(base / entry["key_file"]))


def _grant(name: str, entry: Any) -> Grant:
    """One [plugins.grants.NAME] table: `env` and `secrets`, each a list of names."""
    where = f"[plugins.grants.{name}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(entry) - {"env", "secrets"}
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    for key in ("env", "secrets"):
        value = entry.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"{where} {key} must be a list of names")
    return Grant(env=tuple(entry.get("env", [])), secrets=tuple(entry.get("secrets", [])))


_REMOTE_KEYS = {"address", "ca_file", "cert_file", "key_file", "server_name"}


def _remote(name: str, entry: Any, base: Path) -> RemotePlugin:
    """One [plugins.remote.NAME] table; a missing or unknown key is named in the error."""
    where = f"[plugins.remote.{name}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(entry) - _REMOTE_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    missing = sorted(_REMOTE_KEYS - {"server_name"} - set(entry))
    if missing:
        raise ValueError(f"{where} needs {', '.join(missing)}")
    return RemotePlugin(
        name=name,
        address=str(entry["address"]),
        ca_file=str(base / entry["ca_file"]),
        cert_file=str(base / entry["cert_file"]),
        key_file=str(base / entry["key_file"]),
        server_name=str(entry.get("server_name", "")),
    )


def unix_path(address: str) -> str | None:
    """The socket path of a 'unix:///path' or 'unix:path' address, else None."""
    if address.startswith("unix://"):
        return address[len("unix://") :]
    if address.startswith("unix:"):
        return address[len("unix:") :]
    return None
