"""Bounds on what crosses the wire, shared by the host, the router and plugins.

gRPC refuses a message over its receive limit (4 MiB unless a channel says otherwise, and the
SDK's channels do not), and protobuf refuses to parse one nested deeper than 100 messages: a
level of a Struct (a content's `extra`, a memory's `metadata`) costs three of them. The host
checks what it is given against these bounds at the edge, so that whatever it accepts can be
handed to every plugin, and read back, without a parse error far from the cause.
"""

from __future__ import annotations

from typing import Any

from agenthost.v1 import types_pb2
from google.protobuf import struct_pb2

MAX_RECEIVE_BYTES = 4 * 1024 * 1024
"""gRPC's default receive limit, which the SDK's channels and servers keep: no reply may be larger."""

MAX_MEMORY_BYTES = 1024 * 1024
"""The largest message (SendMessage) or memory (CreateMemory), serialized: text, thought, extra,
attachments and metadata together. A quarter of the receive limit: every plugin call of a run
carries the message and the run's state (an evaluator's the agent's responses too), and
GetMemories can always return at least three memories."""

MAX_NESTING = 16
"""How deep the JSON-like values of a message or memory (`content.extra`, `metadata`) may nest:
`{"a": 1}` is 1, `{"a": [1]}` is 2. Plugins can parse about 32 levels inside their requests;
half leaves room for a plugin that nests such a value in state of its own."""

QUOTE_CHARS = 80
"""How much of a caller's input an error message quotes."""

MAX_ERROR_BYTES = 1024
"""The longest status message a server sends (UTF-8). It travels as a header, which gRPC caps at
8 KiB with non-ASCII bytes escaped three times over; a longer one is cut."""


def quote(value: str, limit: int = QUOTE_CHARS) -> str:
    """`value` quoted for an error message: in full when short, else its first `limit`
    characters, "...", and how long it was."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def bounded(message: str, limit: int = MAX_ERROR_BYTES) -> str:
    """`message` cut to at most `limit` UTF-8 bytes (ending "..." when cut), so that it fits in
    a status header whatever input it echoes."""
    encoded = message.encode()
    if len(encoded) <= limit:
        return message
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def nesting(struct: struct_pb2.Struct) -> int:
    """How deep a Struct nests (0 when empty; a list or object inside adds 1). Walks without
    recursion, so any depth protobuf could parse is measured."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(struct, 1)] if struct.fields else []
    while stack:
        container, depth = stack.pop()
        deepest = max(deepest, depth)
        values = container.fields.values() if isinstance(container, struct_pb2.Struct) else container.values
        for value in values:
            kind = value.WhichOneof("kind")
            if kind == "struct_value":
                stack.append((value.struct_value, depth + 1))
            elif kind == "list_value":
                stack.append((value.list_value, depth + 1))
    return deepest


def memory_problem(memory: types_pb2.Memory, what: str = "memory") -> str:
    """Why `memory` is beyond the bounds (MAX_MEMORY_BYTES, MAX_NESTING), or "" when it is within."""
    size = memory.ByteSize()
    if size > MAX_MEMORY_BYTES:
        return (
            f"the {what} is {size} bytes serialized, over the limit of {MAX_MEMORY_BYTES} (1 MiB): "
            "store large files elsewhere and pass a link (content.attachments[].url)"
        )
    for field, struct in (("content.extra", memory.content.extra), ("metadata", memory.metadata)):
        depth = nesting(struct)
        if depth > MAX_NESTING:
            return f"{field} nests {depth} levels deep, over the limit of {MAX_NESTING}: flatten it"
    return ""
