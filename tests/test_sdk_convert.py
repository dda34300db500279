"""Conversion between the SDK's types and the agenthost.v1 protos."""

import pytest
from google.protobuf import struct_pb2

from plugin_sdk import ActionResult, Attachment, Content, Entity, Memory, ProviderResult, State
from plugin_sdk.wire import (
    action_result_from_proto,
    action_result_to_proto,
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    provider_result_from_proto,
    provider_result_to_proto,
    state_from_proto,
    state_to_proto,
)

NESTED = {
    "n": 3,
    "pi": 3.5,
    "ok": True,
    "none": None,
    "s": "x",
    "list": [1, "two", [3], {"four": 4}],
    "deep": {"a": {"b": ["c", {"d": False}]}},
}


# --- conversion -----------------------------------------------------------------


def test_memory_round_trips():
    memory = Memory(
        id="m1",
        entity_id="e1",
        agent_id="a1",
        room_id="r1",
        world_id="w1",
        created_at_ms=1234567890123,
        table_name="facts",
        metadata=NESTED,
        content=Content(
            text="hello",
            actions=["REPLY", "GREET"],
            source="api",
            thought="be nice",
            attachments=[
                Attachment(
                    id="att", url="https://x/y.png", content_type="image/png", title="Y", description="a y", text="alt"
                )
            ],
            extra={"reply_to": {"ids": ["a", "b"]}},
        ),
    )
    assert memory_from_proto(memory_to_proto(memory)) == memory


def test_state_round_trips():
    state = State(values={"agentName": "Ada", "nested": NESTED}, data={"providers": [{"name": "TIME"}]}, text="ctx")
    assert state_from_proto(state_to_proto(state)) == state


def test_entity_round_trips():
    entity = Entity(id="e1", agent_id="a1", names=["Bob", "Robert"], metadata={"likes": ["tea", {"kind": "green"}]})
    assert entity_from_proto(entity_to_proto(entity)) == entity


def test_action_result_round_trips():
    result = ActionResult(success=False, text="nope", values={"v": NESTED}, data={"d": [1, 2]}, error="boom")
    assert action_result_from_proto(action_result_to_proto(result)) == result


def test_provider_result_round_trips_with_its_name():
    result = ProviderResult(text="t", values={"a": [1, {"b": None}]}, data={"raw": NESTED})
    msg = provider_result_to_proto("TIME", result)
    assert msg.name == "TIME"
    assert provider_result_from_proto(msg) == result


def test_numbers_come_back_as_floats():
    back = state_from_proto(state_to_proto(State(values={"n": 3})))
    assert type(back.values["n"]) is float


@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes", {"inner": object()}, [object()]])
def test_a_non_json_like_value_raises_type_error(bad):
    with pytest.raises(TypeError, match="not JSON-like"):
        fill_struct(struct_pb2.Struct(), {"key": bad})


class _Text(str):
    """A str subclass: left to protobuf's own Struct.update by fill_struct's quick path."""


@pytest.mark.parametrize(
    "values",
    [
        NESTED,
        {"empty": {}, "none_list": [], "tuple": (1, "a", (None,)), "zero": 0, "false": False, "blank": ""},
        {
            "sub": _Text("t"),
            "in_list": [_Text("u")],
            "struct": struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")}),
        },
        {"messages": [{"role": "system", "content": "x" * 3000}, {"role": "user", "content": "hi"}], "t": 0.0},
    ],
)
def test_fill_struct_gives_what_struct_update_gives(values):
    expected, got = struct_pb2.Struct(), struct_pb2.Struct()
    expected.update(values)
    fill_struct(got, values)
    assert got == expected
    expected.update({"deep": {"x": 1}, "new": [2]})  # filled again: keys replaced, as update does
    fill_struct(got, {"deep": {"x": 1}, "new": [2]})
    assert got == expected


def test_a_bad_key_deep_down_is_named():
    with pytest.raises(TypeError, match=r"values\['a'\]\[1\] key 2 \(int\) is not JSON-like"):
        fill_struct(struct_pb2.Struct(), {"a": [1, {2: 3}]})


def test_a_non_json_like_value_in_a_dataclass_raises_at_conversion():
    with pytest.raises(TypeError, match="not JSON-like"):
        action_result_to_proto(ActionResult(values={"when": object()}))
