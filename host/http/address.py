"""The HTTP face's address as `--http` and agenthost.toml's `http` give it (checked before the
host starts, without loading FastAPI)."""

from __future__ import annotations


class HttpAddressError(ValueError):
    """`--http` is not HOST:PORT, :PORT or PORT."""


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT, [IPV6]:PORT, :PORT or PORT (no host: 127.0.0.1)."""
    where, _, port = text.strip().rpartition(":")
    where = where.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise HttpAddressError(f"--http {text!r}: give HOST:PORT, :PORT or PORT (a port 0-65535), or off")
    return where, int(port)
