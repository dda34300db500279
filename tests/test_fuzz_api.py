"""Malformed requests to every AgentService, RuntimeService and RouterService method, drawn by
hypothesis: wrong types, huge strings, invalid UTF-8, unknown ids, missing fields, negative
limits, bytes that are no message at all. Each call ends with a clear status (never INTERNAL or
UNKNOWN) and the host keeps serving: its API, its plugins' callbacks and its router answer, and it
logged no traceback.

The requests are built from the protos' descriptors, so a method added later is fuzzed too. They
go over the wire as bytes (a client nobody here wrote), to a real host with a real plugin process
and a real RouterService (its engine on litellm's mock responses, served as the router serves).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import grpc  # noqa: E402
import litellm  # noqa: E402
import pytest  # noqa: E402
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, runtime_pb2  # noqa: E402
from google.protobuf import message_factory, struct_pb2  # noqa: E402
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from support import plugin_socket  # noqa: E402

from host.host import Host  # noqa: E402
from host.status import Lifecycle  # noqa: E402
from plugin_sdk import PluginSpec  # noqa: E402
from router.accounting import Budget  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import parse_providers  # noqa: E402
from router.server import router_server  # noqa: E402

TESTS = Path(__file__).parent
CHAT = PluginSpec(name="chat", version="1.0.0", command=(sys.executable, str(TESTS / "chat_plugin.py")))
PROVIDERS = parse_providers(
    [
        {"name": "fake", "model": "chat", "litellm_model": "openai/gpt-4o-mini", "cost_in": 0.001, "cost_out": 0.001,
         "max_context": 8000, "latency_ms": 10, "endpoint_env": "FAKE_KEY", "max_output_tokens": 100,
         "capabilities": ["chat"]},
        {"name": "fake", "model": "embed", "litellm_model": "openai/text-embedding-3-small", "cost_in": 0.001,
         "cost_out": 0, "max_context": 8000, "latency_ms": 10, "endpoint_env": "FAKE_KEY",
         "capabilities": ["embedding"]},
    ],
    "test",
)  # fmt: skip
POLICY = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
EXAMPLES = int(os.environ.get("AGENTHOST_FUZZ_EXAMPLES", "150"))
CALL_TIMEOUT = 10.0
UNCLEAR = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

# What a caller might put in a string field: text, the empty string, ids and names that exist
# (so the call reaches past the lookup), and strings too big for any field.
KNOWN_STRINGS = ["", "chat", "CHAT_FACTS", "REPLY", "TEXT_SMALL", "TEXT_EMBEDDING", "room-1", "user-1", "router"]
strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(KNOWN_STRINGS),
    st.just("x" * 300_000),
    st.just("00000000-0000-0000-0000-000000000000"),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-(2**53), 2**53) | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Values of a scalar field's type, edges included (negative limits, the largest numbers)."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return strings
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values]) | st.integers(-5, 1000)
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    low, high = INT_RANGES[field.type]
    return st.integers(low, high) | st.sampled_from([-1, 0, 1, low, high])


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Any:
    """A message of `descriptor` with a random subset of its fields set to random values."""
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue  # a missing field
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields
            for _ in range(draw(st.integers(0, 2))):
                key = draw(scalars(key_field))
                if value_field.message_type is None:
                    target[key] = draw(scalars(value_field))
                elif depth < 3:
                    target[key].CopyFrom(draw(messages(value_field.message_type, depth + 1)))
        elif field.message_type is not None:
            count = draw(st.integers(0, 2)) if field.is_repeated else 1
            for _ in range(count):
                value = draw(submessages(field.message_type, depth))
                if value is None:
                    continue
                if field.is_repeated:
                    target.add().CopyFrom(value)
                else:
                    target.CopyFrom(value)
        elif field.is_repeated:
            target.extend(draw(st.lists(scalars(field), max_size=3)))
        else:
            setattr(message, field.name, draw(scalars(field)))
    return message


@st.composite
def submessages(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Any:
    """A nested message; Struct and Value hold JSON-like data (wrong types for the call included)."""
    if descriptor.full_name == "google.protobuf.Struct":
        value = struct_pb2.Struct()
        value.update(draw(st.dictionaries(st.text(max_size=12) | st.sampled_from(["messages", "prompt"]), json_values,
                                          max_size=4)))  # fmt: skip
        return value
    if descriptor.full_name == "google.protobuf.Value":
        value = struct_pb2.Value()
        value.list_value.extend([draw(json_values)])
        return value
    if depth >= 3:
        return None
    return draw(messages(descriptor, depth + 1))


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


@st.composite
def requests(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """A request's bytes: a message of the right type, sometimes with a string field that is not
    UTF-8 appended, or bytes that are not a message of this type at all."""
    kind = draw(st.sampled_from(["message", "message", "message", "bad utf-8", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    raw = draw(messages(descriptor)).SerializeToString()
    text_fields = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    if kind == "bad utf-8" and text_fields:
        field = draw(st.sampled_from(text_fields))
        payload = draw(st.sampled_from([b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"ok\x80ok"]))
        raw += varint(field.number << 3 | 2) + varint(len(payload)) + payload
    return raw


class Target:
    """A service reachable on a channel with the metadata a legitimate caller sends."""

    def __init__(self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> None:
        self.channel, self.metadata = channel, metadata

    async def call(self, method: MethodDescriptor, payload: list[bytes]) -> grpc.StatusCode:
        """Make the call with raw request bytes; the status it ends with (OK if it succeeds)."""
        path = f"/{method.containing_service.full_name}/{method.name}"
        options: dict[str, Any] = {"timeout": CALL_TIMEOUT, "metadata": self.metadata}
        try:
            if method.client_streaming and method.server_streaming:
                async for _ in self.channel.stream_stream(path)(iter(payload), **options):
                    pass
            elif method.client_streaming:
                await self.channel.stream_unary(path)(iter(payload), **options)
            elif method.server_streaming:
                async for _ in self.channel.unary_stream(path)(payload[0], **options):
                    pass
            else:
                await self.channel.unary_unary(path)(payload[0], **options)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and _follows(method, payload[0]):
                return grpc.StatusCode.OK  # a followed log stream ends only when the caller leaves
            assert exc.code() not in UNCLEAR, f"{path}: {exc.code().name} {exc.details()!r} for {payload!r:.300}"
            return exc.code()
        return grpc.StatusCode.OK


def _follows(method: MethodDescriptor, raw: bytes) -> bool:
    if method.name != "GetLogs":
        return False
    try:
        return agent_pb2.GetLogsRequest.FromString(raw).follow
    except Exception:  # noqa: BLE001 - not a request that parses: it does not follow
        return False


async def fake_completion(**kwargs: Any) -> Any:
    return await litellm.acompletion(mock_response="<response><text>ok</text></response>", **kwargs)


async def fake_embedding(**kwargs: Any) -> Any:
    return await litellm.aembedding(mock_response=[0.1, 0.2, 0.3], **kwargs)


@pytest.fixture
async def router_address(tmp_path: Path) -> AsyncIterator[str]:
    """RouterService served as the router serves it, its engine answering from litellm's mocks."""
    accounting = await SQLiteAccounting.open(str(tmp_path / "router.db"))
    router = Router(
        PROVIDERS,
        POLICY,
        accounting,
        (Budget("global", "total", 1.0),),
        ProviderCaller(env={"FAKE_KEY": "sk-test"}, complete=fake_completion, embed=fake_embedding),
    )
    server = router_server(router)
    address = f"unix://{tmp_path}/router.sock"
    server.add_insecure_port(address)
    await server.start()
    yield address
    await server.stop(0)
    await accounting.close()


@pytest.fixture
async def host(start_host: Any, router_address: str) -> AsyncIterator[Host]:
    """A host with the chat plugin and the router; after the test, it must still be serving."""
    started: Host = await start_host(CHAT, router_address=router_address)
    yield started
    await still_serving(started)


async def still_serving(host: Host) -> None:
    """The API, a plugin's callbacks and the router answer; no traceback was logged."""
    async with grpc.aio.insecure_channel(host.address) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(
            agent_pb2.GetStatusRequest(), metadata=api_metadata(host), timeout=5
        )
        assert status.state == agent_pb2.LIFECYCLE_STATE_READY
        providers = await channel.unary_unary("/agenthost.v1.RouterService/ListProviders")(
            router_pb2.ListProvidersRequest().SerializeToString(), metadata=api_metadata(host), timeout=5
        )
        assert router_pb2.ListProvidersResponse.FromString(providers).providers
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        await channel.unary_unary("/agenthost.v1.RuntimeService/GetSetting")(
            runtime_pb2.GetSettingRequest(key="GREETING").SerializeToString(), metadata=plugin_metadata(host), timeout=5
        )
    assert host.state() == Lifecycle.READY
    tracebacks = [r.message for r in host.log_buffer.tail(100_000) if "Traceback" in r.message]
    assert tracebacks == []


def api_metadata(host: Host) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {host.api_token}"),)


def plugin_metadata(host: Host) -> tuple[tuple[str, str], ...]:
    instance = host.plugins.get("chat").instance
    assert instance is not None
    return (("authorization", f"Bearer {instance.token}"), ("x-agenthost-plugin", "chat"))


def methods(module: Any, service: str) -> list[MethodDescriptor]:
    return list(module.DESCRIPTOR.services_by_name[service].methods)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def payloads(method: MethodDescriptor) -> st.SearchStrategy[list[bytes]]:
    """Up to 3 requests for a client stream; one for the rest, a bidirectional stream included: a
    client that writes on after the server ended the call gets grpc's own INTERNAL ("Internal
    error from Core") now and then, whatever status the server sent (grpc.aio alone does it)."""
    one = requests(method.input_type)
    if method.client_streaming and not method.server_streaming:
        return st.lists(one, min_size=1, max_size=3)
    return one.map(lambda raw: [raw])


@st.composite
def calls(draw: st.DrawFn, service: list[MethodDescriptor]) -> tuple[MethodDescriptor, list[bytes]]:
    method = draw(st.sampled_from(service))
    return method, draw(payloads(method))


AGENT_METHODS = methods(agent_pb2, "AgentService")
RUNTIME_METHODS = methods(runtime_pb2, "RuntimeService")
ROUTER_METHODS = methods(router_pb2, "RouterService")


@FUZZ
@given(call=calls(AGENT_METHODS))
async def test_agent_service_answers_malformed_requests_with_a_clear_status(host: Host, call: Any) -> None:
    method, payload = call
    async with grpc.aio.insecure_channel(host.address) as channel:
        await Target(channel, api_metadata(host)).call(method, payload)


@FUZZ
@given(call=calls(RUNTIME_METHODS))
async def test_runtime_service_answers_malformed_callbacks_with_a_clear_status(host: Host, call: Any) -> None:
    method, payload = call
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        await Target(channel, plugin_metadata(host)).call(method, payload)


@FUZZ
@given(call=calls(ROUTER_METHODS))
async def test_router_service_answers_malformed_requests_with_a_clear_status(host: Host, call: Any) -> None:
    method, payload = call
    async with grpc.aio.insecure_channel(host.address) as channel:  # through the host, as a client calls it
        await Target(channel, api_metadata(host)).call(method, payload)


async def test_the_host_keeps_serving_after_every_kind_of_malformed_request(host: Host) -> None:
    """Every method, with bytes that are no message of its type: a clear status each."""
    async with grpc.aio.insecure_channel(host.address) as api, grpc.aio.insecure_channel(plugin_socket(host)) as rt:
        for service, target in (
            (AGENT_METHODS, Target(api, api_metadata(host))),
            (ROUTER_METHODS, Target(api, api_metadata(host))),
            (RUNTIME_METHODS, Target(rt, plugin_metadata(host))),
        ):
            for method in service:
                for raw in (b"\xff\xff\xff", b"\x0a\x01\xff", b""):
                    await target.call(method, [raw])
