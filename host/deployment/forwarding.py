"""Forwarding a message to the host that owns its room: AgentService.SendMessage on that host,
its events read back as this host's RunEvents.

The call carries this host's API token (the hosts of a deployment share one) and
`agenthost-forwarded: <origin host id>`, so the owner runs the message itself and never forwards
it again. The message keeps its id: sending it again (after a lost connection, to a new owner)
replays its run instead of running it twice (host/agent/replay.py). What a failed call means for
the message is in the error's type: PeerUnavailable (not reached, or gone mid-stream: send it
again), PeerRefused (the peer did not take it: refresh the owner, or wait, and send it again),
PeerFailed (the peer said no for good: give the caller the reason).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME
from plugin_sdk.types import Memory
from plugin_sdk.wire import content_from_proto, content_to_proto

from ..agent.admission import RETRY_AFTER_KEY
from ..agent.run import RunEvent

#: The metadata key naming the host a message was forwarded from (AgentService reads it).
FORWARDED_KEY = "agenthost-forwarded"

_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})
_REFUSED = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})


class ForwardError(Exception):
    """A forwarded message's call to `address` failed with gRPC status `code`; `events` is how many
    of its run's events came back before (0: the peer may not have stored it)."""

    def __init__(self, address: str, code: grpc.StatusCode, details: str, events: int, retry_after_s: float) -> None:
        super().__init__(f"host {address} ({code.name}): {details}")
        self.address, self.code, self.details = address, code, details
        self.events = events
        self.retry_after_s = retry_after_s  # the peer's advice when it is backlogged, else 0


class PeerUnavailable(ForwardError):
    """The peer was not reached, did not answer in time, or the stream broke: send the message
    again (the same id: if it was stored, its run is replayed, not run twice)."""


class PeerRefused(ForwardError):
    """The peer did not take the message, nothing stored: it does not own the room
    (FAILED_PRECONDITION: refresh the owner and send it again) or is backlogged
    (RESOURCE_EXHAUSTED: `retry_after_s`)."""


class PeerFailed(ForwardError):
    """The peer refused the message for good (invalid, unknown agent, not authorized, ...) or
    failed: give the caller the reason; sending it again would not help."""


def forward_error(address: str, error: grpc.aio.AioRpcError, events: int) -> ForwardError:
    """The ForwardError for a failed call: its type by the status code."""
    code = error.code()
    kind = PeerUnavailable if code in _UNAVAILABLE else PeerRefused if code in _REFUSED else PeerFailed
    retry_after = 0.0
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER_KEY:
            try:
                retry_after = float(value)
            except (TypeError, ValueError):
                pass
    return kind(address, code, error.details() or "", events, retry_after)


def event_from_response(response: agent_pb2.SendMessageResponse) -> RunEvent:
    """A run event from the wire (AgentService's `_event_response` the other way)."""
    return RunEvent(response.run_id, response.event_type, content_from_proto(response.content))


def tls_credentials(ca_file: str | Path) -> grpc.ChannelCredentials:
    """Credentials checking the peers' certificates against `ca_file`: the CA that signed the
    hosts' [tls] certificates ($AGENTHOST_TLS_CA, as the CLI's), or the certificate itself when
    the hosts share one self-signed certificate. OSError when it cannot be read."""
    return grpc.ssl_channel_credentials(Path(ca_file).read_bytes())


class Peers:
    """Calls to the other hosts of the deployment, one channel per address, kept until `close`."""

    def __init__(self, token: str, tls: grpc.ChannelCredentials | None = None, server_name: str = "") -> None:
        """`token`: the deployment's API token; `tls`: None for plaintext (hosts on one machine or
        a private network), else the credentials to check the peers' certificates with;
        `server_name`: the name their certificate is for, when not the address's host."""
        self._auth = (AUTH_METADATA_KEY, AUTH_SCHEME + token) if token else None
        self._tls = tls
        self._server_name = server_name
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, address: str) -> agent_pb2_grpc.AgentServiceStub:
        channel = self._channels.get(address)
        if channel is None:
            options: list[tuple[str, Any]] = [("grpc.enable_retries", 0)]  # a resend is the caller's choice
            if self._tls is None:
                channel = grpc.aio.insecure_channel(address, options=options)
            else:
                if self._server_name:
                    options.append(("grpc.ssl_target_name_override", self._server_name))
                channel = grpc.aio.secure_channel(address, self._tls, options=options)
            self._channels[address] = channel
        return agent_pb2_grpc.AgentServiceStub(channel)

    async def send(
        self, address: str, agent_id: str, message: Memory, room_type: str, deadline_s: float, origin: str
    ) -> AsyncIterator[RunEvent]:
        """Run `message` (which has its id) on the host at `address` as agent `agent_id`, yielding
        its run's events (every type) up to RUN_ENDED; ForwardError (by type) when the call fails.
        The message's room, sender and content cross (its world and metadata do not: no face sets
        them). Stopping early cancels the call, not the run."""
        if not message.id:
            raise ValueError("a forwarded message needs its id: sending it again must not run it twice")
        request = agent_pb2.SendMessageRequest(
            room_id=message.room_id,
            entity_id=message.entity_id,
            content=content_to_proto(message.content),
            agent_id=agent_id,
            room_type=room_type,
            message_id=message.id,
        )
        metadata = [(FORWARDED_KEY, origin), *([self._auth] if self._auth else [])]
        call = self._stub(address).SendMessage(request, timeout=deadline_s, metadata=metadata)
        received = 0
        try:
            async for response in call:
                received += 1
                yield event_from_response(response)
        except grpc.aio.AioRpcError as exc:
            raise forward_error(address, exc, received) from None
        finally:
            call.cancel()  # nothing once it has ended; else the caller stopped listening

    def addresses(self) -> list[str]:
        """The peers this host has a channel to."""
        return list(self._channels)

    async def close(self) -> None:
        """Close every channel (calls under way end CANCELLED)."""
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(c.close() for c in channels), return_exceptions=True)
