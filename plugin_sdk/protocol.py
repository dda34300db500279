"""Constants and helpers of the plugin protocol, shared by plugins and the host.

The protocol is described for authors in any language in proto/PROTOCOL.md.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE_PROTOCOL_VERSION = 1
"""Version of the handshake itself (the first field of the handshake line)."""

SUPPORTED_APP_VERSIONS: tuple[int, ...] = (1,)
"""Versions of the agenthost.v1 contracts this SDK speaks."""

MAGIC_COOKIE_KEY = "AGENTHOST_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "5b0d6c3e9a1f4e7d8c2b"
ENV_APP_VERSIONS = "AGENTHOST_PLUGIN_PROTOCOL_VERSIONS"
ENV_SOCKET_DIR = "AGENTHOST_PLUGIN_SOCKET_DIR"
ENV_LISTEN = "AGENTHOST_PLUGIN_LISTEN"
ENV_TLS_CERT = "AGENTHOST_PLUGIN_TLS_CERT"
ENV_TLS_KEY = "AGENTHOST_PLUGIN_TLS_KEY"
ENV_TLS_CLIENT_CA = "AGENTHOST_PLUGIN_TLS_CLIENT_CA"

HOST_SOCKET = "host.sock"
"""The host's RuntimeService socket file in the socket directory (the runtime_address of Init)."""

AUTH_METADATA_KEY = "authorization"
AUTH_SCHEME = "Bearer "
PLUGIN_METADATA_KEY = "x-agenthost-plugin"

MANIFEST_CHANGED = "PLUGIN_MANIFEST_CHANGED"
"""The event (RuntimeService.EmitEvent) a running plugin emits when its components changed and
Describe answers with the new manifest: the host reads it again (the MCP bridge, after its
server's tools/list_changed)."""

NOT_A_PROGRAM = (
    "This is an agenthost plugin, not a program: the agenthost host starts it. "
    "Install its package and run `agenthost plugins load NAME`."
)


class HandshakeError(ValueError):
    """A handshake line or version negotiation that cannot be accepted."""


@dataclass(frozen=True)
class Handshake:
    """The plugin's first stdout line, parsed."""

    core_version: int
    app_version: int
    network: str
    address: str
    protocol: str

    def line(self) -> str:
        """The line as a plugin prints it (without the newline)."""
        return f"{self.core_version}|{self.app_version}|{self.network}|{self.address}|{self.protocol}|"

    @property
    def target(self) -> str:
        """The gRPC target to dial."""
        return f"unix://{self.address}" if self.network == "unix" else self.address


def parse_handshake(line: str, accepted_app_versions: tuple[int, ...]) -> Handshake:
    """Parse and check a handshake line; raise HandshakeError saying what is wrong."""
    text = line.strip()
    parts = text.split("|")
    if len(parts) < 5 or not parts[0].isdecimal() or not parts[1].isdecimal():
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise HandshakeError(
            f"first stdout line is not a handshake (expected 'CORE|APP|NETWORK|ADDRESS|grpc|'): {shown!r}"
        )
    core, app, network, address, protocol = int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4]
    if core != CORE_PROTOCOL_VERSION:
        raise HandshakeError(f"core protocol version {core} is not supported (host speaks {CORE_PROTOCOL_VERSION})")
    if app not in accepted_app_versions:
        raise HandshakeError(
            f"app protocol version {app} was not offered (host accepts {', '.join(map(str, accepted_app_versions))})"
        )
    if network not in ("unix", "tcp"):
        raise HandshakeError(f"network {network!r} is not supported (use unix or tcp)")
    if protocol != "grpc":
        raise HandshakeError(f"protocol {protocol!r} is not supported (use grpc)")
    if not address:
        raise HandshakeError("handshake has an empty address")
    return Handshake(core, app, network, address, protocol)


def negotiate(offered: str, supported: tuple[int, ...] = SUPPORTED_APP_VERSIONS) -> int:
    """Pick the highest app version both sides speak from the host's comma list."""
    try:
        host_versions = {int(v) for v in offered.split(",") if v.strip()}
    except ValueError:
        raise HandshakeError(f"{ENV_APP_VERSIONS} is not a comma-separated list of integers: {offered!r}") from None
    common = host_versions & set(supported)
    if not common:
        raise HandshakeError(
            f"no common protocol version: host speaks {sorted(host_versions)}, plugin speaks {sorted(supported)}"
        )
    return max(common)
