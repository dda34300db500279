"""Conversion between the SDK's dataclasses and the agenthost.v1 protos."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agenthost.v1 import plugin_pb2, types_pb2
from google.protobuf import struct_pb2

from .types import ActionResult, Attachment, Content, Entity, Memory, ModelOutput, ProviderResult, State


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain Python values (numbers come back as floats, as JSON does)."""
    fields = struct.fields
    if not fields:  # the common case; iterating an empty map still costs
        return {}
    return {key: _value_to_python(value) for key, value in fields.items()}


def _value_to_python(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value_to_python(v) for v in value.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)


def fill_struct(struct: struct_pb2.Struct, values: dict[str, Any]) -> None:
    """Copy a JSON-like dict into a Struct field; raise TypeError naming a bad value."""
    if values:
        try:
            _fill(struct.fields, values)
            return
        except Exception:  # protobuf's own path below gives the answer, or the error
            pass  # a type the quick path leaves to it (a subclass, a Struct), or a bad key or value
        try:
            struct.update(values)  # sets every key again, as if the quick path had not run
        except (ValueError, TypeError):
            raise TypeError(
                f"{_first_bad(values, 'values')} is not JSON-like (use str, number, bool, None, list, dict)"
            ) from None


class _NotPlain(Exception):
    """A value of a type other than exactly str, dict, list, tuple, bool, int, float or None."""


def _fill(fields: Any, values: dict[str, Any]) -> None:
    """Struct.update's result (each key's value replaced), dispatched on the exact type: protobuf's
    own walks isinstance checks per value in Python, ~2x the time for a UseModel's messages."""
    for key, value in values.items():
        kind = type(value)
        if kind is str:
            fields[key].string_value = value
        elif kind is dict:
            struct = fields[key].struct_value
            struct.Clear()
            _fill(struct.fields, value)
        elif kind is list or kind is tuple:
            items = fields[key].list_value
            items.Clear()
            _fill_list(items.values, value)
        elif kind is bool:
            fields[key].bool_value = value
        elif kind is int or kind is float:
            fields[key].number_value = value
        elif value is None:
            fields[key].null_value = 0
        else:
            raise _NotPlain


def _fill_list(values: Any, items: list[Any] | tuple[Any, ...]) -> None:
    add = values.add
    for value in items:
        kind = type(value)
        if kind is str:
            add(string_value=value)
        elif kind is dict:
            _fill(add().struct_value.fields, value)
        elif kind is list or kind is tuple:
            _fill_list(add().list_value.values, value)
        elif kind is bool:
            add(bool_value=value)
        elif kind is int or kind is float:
            add(number_value=value)
        elif value is None:
            add(null_value=0)
        else:
            raise _NotPlain


def _first_bad(value: Any, where: str) -> str:
    """Where in a nested value the first non-JSON-like item is, e.g. "values['when'] (datetime)"."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} key {key!r} ({type(key).__name__})"
            found = _first_bad(item, f"{where}[{key!r}]")
            if found:
                return found
        return ""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_bad(item, f"{where}[{index}]")
            if found:
                return found
        return ""
    if value is None or isinstance(value, (str, int, float, bool)):
        return ""
    return f"{where} ({type(value).__name__})"


def content_to_proto(content: Content) -> types_pb2.Content:
    msg = types_pb2.Content(
        text=content.text,
        actions=content.actions,
        source=content.source,
        thought=content.thought,
        attachments=[types_pb2.Attachment(**asdict(a)) for a in content.attachments],
    )
    fill_struct(msg.extra, content.extra)
    return msg


def content_from_proto(msg: types_pb2.Content) -> Content:
    return Content(
        text=msg.text,
        actions=list(msg.actions),
        source=msg.source,
        thought=msg.thought,
        attachments=[Attachment(a.id, a.url, a.content_type, a.title, a.description, a.text) for a in msg.attachments],
        extra=struct_to_dict(msg.extra),
    )


def memory_to_proto(memory: Memory) -> types_pb2.Memory:
    msg = types_pb2.Memory(
        id=memory.id,
        entity_id=memory.entity_id,
        agent_id=memory.agent_id,
        room_id=memory.room_id,
        world_id=memory.world_id,
        content=content_to_proto(memory.content),
        created_at_ms=memory.created_at_ms,
        table_name=memory.table_name,
    )
    fill_struct(msg.metadata, memory.metadata)
    return msg


def memory_from_proto(msg: types_pb2.Memory) -> Memory:
    return Memory(
        id=msg.id,
        entity_id=msg.entity_id,
        agent_id=msg.agent_id,
        room_id=msg.room_id,
        world_id=msg.world_id,
        content=content_from_proto(msg.content),
        created_at_ms=msg.created_at_ms,
        table_name=msg.table_name,
        metadata=struct_to_dict(msg.metadata),
    )


def state_to_proto(state: State) -> types_pb2.State:
    msg = types_pb2.State(text=state.text)
    fill_struct(msg.values, state.values)
    fill_struct(msg.data, state.data)
    return msg


def state_from_proto(msg: types_pb2.State) -> State:
    return State(values=struct_to_dict(msg.values), data=struct_to_dict(msg.data), text=msg.text)


def entity_to_proto(entity: Entity) -> types_pb2.Entity:
    msg = types_pb2.Entity(id=entity.id, agent_id=entity.agent_id, names=entity.names)
    fill_struct(msg.metadata, entity.metadata)
    return msg


def entity_from_proto(msg: types_pb2.Entity) -> Entity:
    return Entity(id=msg.id, agent_id=msg.agent_id, names=list(msg.names), metadata=struct_to_dict(msg.metadata))


def provider_result_to_proto(name: str, result: ProviderResult) -> plugin_pb2.ProviderResult:
    msg = plugin_pb2.ProviderResult(name=name, text=result.text)
    fill_struct(msg.values, result.values)
    fill_struct(msg.data, result.data)
    return msg


def provider_result_from_proto(msg: plugin_pb2.ProviderResult) -> ProviderResult:
    return ProviderResult(text=msg.text, values=struct_to_dict(msg.values), data=struct_to_dict(msg.data))


def action_result_to_proto(result: ActionResult) -> types_pb2.ActionResult:
    msg = types_pb2.ActionResult(success=result.success, text=result.text, error=result.error)
    fill_struct(msg.values, result.values)
    fill_struct(msg.data, result.data)
    return msg


def action_result_from_proto(msg: types_pb2.ActionResult) -> ActionResult:
    return ActionResult(
        success=msg.success,
        text=msg.text,
        values=struct_to_dict(msg.values),
        data=struct_to_dict(msg.data),
        error=msg.error,
    )


def model_output_from_proto(msg: Any, served_by: str = "") -> ModelOutput:
    """From a UseModelResponse or RuntimeServiceUseModelResponse."""
    return ModelOutput(
        text=msg.text,
        embedding=list(msg.embedding),
        data=struct_to_dict(msg.data),
        served_by=getattr(msg, "served_by", "") or served_by,
    )
