"""The [deployment] table: several hosts as one deployment (README, "Several hosts")."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, replace
from typing import Any

QUEUE_URL_ENV = "AGENTHOST_QUEUE_URL"
TLS_CA_ENV = "AGENTHOST_TLS_CA"  # the CA a client checks hosts' certificates with (the CLI's too)


@dataclass(frozen=True)
class DeploymentConfig:
    """How this host joins a deployment; no `queue_url` means one host on its own, no coordination."""

    #: The coordination database (PostgreSQL): rooms' owners and the hosts' heartbeats. "" = one host.
    #: $AGENTHOST_QUEUE_URL or `serve --queue-url` when the file has none.
    queue_url: str = ""
    host_id: str = ""  # "" = "<hostname>-<8 hex>", new at each start
    advertise: str = ""  # the gRPC address the other hosts reach this one at; "" = the bound listen address
    partitions: int = 64  # rooms are hashed into this many partitions, each owned by one host
    lease_s: float = 6.0  # a host silent this long is dead: its rooms move within lease_s + tick_s
    tick_s: float = 1.0  # heartbeat, lease renewal and claims, once a tick
    #: With [tls], the CA the other hosts' certificates are checked against when forwarding to
    #: them: "" = $AGENTHOST_TLS_CA (as the CLI's), else this host's own certificate (hosts that
    #: share one self-signed certificate).
    tls_ca: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.queue_url)

    def with_host_id(self) -> DeploymentConfig:
        """This config with a host id (a new one when none is configured)."""
        return self if self.host_id else replace(self, host_id=default_host_id())


def default_host_id() -> str:
    """A host id for this process: "<hostname>-<8 hex>", new at each start (a restarted host is
    another host: the runs its previous life left open are swept, not adopted)."""
    return f"{socket.gethostname()}-{secrets.token_hex(4)}"


def deployment_from_table(entry: dict[str, Any]) -> DeploymentConfig:
    """The [deployment] table, checked; $AGENTHOST_QUEUE_URL gives the URL when the table has none."""
    unknown = set(entry) - set(DeploymentConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown key(s) in [deployment]: {', '.join(sorted(unknown))}")
    url = entry.get("queue_url") or os.environ.get(QUEUE_URL_ENV, "")
    check_queue_url(url)
    values: dict[str, Any] = {"queue_url": url}
    for key in ("host_id", "advertise", "tls_ca"):
        if key in entry:
            if not isinstance(entry[key], str):
                raise ValueError(f"[deployment] {key} must be a string")
            values[key] = entry[key]
    partitions = entry.get("partitions", DeploymentConfig.partitions)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= 4096:
        raise ValueError(f"[deployment] partitions must be a whole number from 1 to 4096; got {partitions!r}")
    values["partitions"] = partitions
    for key in ("lease_s", "tick_s"):
        value = entry.get(key, getattr(DeploymentConfig, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"[deployment] {key} must be a number of seconds above 0; got {value!r}")
        values[key] = float(value)
    if values["lease_s"] < 2 * values["tick_s"]:
        raise ValueError("[deployment] lease_s must be at least twice tick_s (a lease is renewed each tick)")
    return DeploymentConfig(**values)


def check_queue_url(url: str) -> None:
    """A queue URL the deployment can use: PostgreSQL (or "" for one host)."""
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"the deployment's queue_url must be a postgresql:// URL, got {url.split('://')[0]!r}://...")
