"""The plugin author's side of the SDK: decorators, manifest, conversion, test harness, FakeHost."""

from google.protobuf import struct_pb2
import pytest

from agenthost.v1 import plugin_pb2
from plugin_sdk import ActionResult, Attachment, Content, Entity, Memory, ModelOutput, Plugin, ProviderResult, State
from plugin_sdk._convert import (
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
from plugin_sdk._runner import UnknownComponent
from plugin_sdk.testing import FakeHost, PluginHarness

MESSAGE = Memory(content=Content(text="hi"), room_id="room-1")
NESTED = {"n": 3, "pi": 3.5, "ok": True, "none": None, "s": "x", "list": [1, "two", [3], {"four": 4}],
          "deep": {"a": {"b": ["c", {"d": False}]}}}


class Svc:
    """A service that counts its starts and stops."""

    starts = 0
    stops = 0

    async def start(self, ctx):
        Svc.starts += 1

    async def stop(self):
        Svc.stops += 1


# --- decorators ---------------------------------------------------------------


def test_decorators_register_components_and_return_the_function():
    p = Plugin("demo")

    async def act(ctx, message, state, options, callback): ...
    def prov(ctx, message, state): ...
    def ev(ctx, message, state, responses): ...
    def model(ctx, params): ...
    def on_evt(ctx, payload): ...
    def init(ctx): ...

    assert p.action("ACT")(act) is act
    assert p.provider("PROV")(prov) is prov
    assert p.evaluator("EV")(ev) is ev
    assert p.service("svc")(Svc) is Svc
    assert p.model("TEXT_SMALL")(model) is model
    assert p.event("SOMETHING")(on_evt) is on_evt
    assert p.on_init(init) is init
    assert p.actions["ACT"].handler is act
    assert p.providers["PROV"].get is prov
    assert p.evaluators["EV"].handler is ev
    assert p.services["svc"].factory is Svc
    assert p.models["TEXT_SMALL"].handler is model
    assert p.events == {"SOMETHING": [on_evt]}
    assert p.init_hooks == [init]


def test_description_defaults_to_the_docstring():
    p = Plugin("demo")

    @p.provider("PROV")
    def prov(ctx, message, state):
        """Says hello."""

    p.service("svc")(Svc)
    assert p.providers["PROV"].description == "Says hello."
    assert p.services["svc"].description == "A service that counts its starts and stops."


@pytest.mark.parametrize("kind", ["action", "provider", "evaluator", "model"])
def test_duplicate_names_within_one_plugin_raise(kind):
    p = Plugin("demo")
    getattr(p, kind)("SAME")(lambda *a: None)
    with pytest.raises(ValueError, match="declares .* 'SAME' twice"):
        getattr(p, kind)("SAME")(lambda *a: None)


def test_duplicate_service_raises():
    p = Plugin("demo")
    p.service("svc")(Svc)
    with pytest.raises(ValueError, match="declares service 'svc' twice"):
        p.service("svc")(Svc)


def test_several_handlers_may_subscribe_to_one_event():
    p = Plugin("demo")
    p.event("TICK")(lambda ctx, payload: None)
    p.event("TICK")(lambda ctx, payload: None)
    assert len(p.events["TICK"]) == 2


@pytest.mark.parametrize("name", ["", "1ACT", "_ACT", "HAS SPACE", "bad/slash", "émoji"])
def test_invalid_names_raise(name):
    with pytest.raises(ValueError, match="must start with a letter"):
        Plugin("demo").action(name)(lambda *a: None)
    with pytest.raises(ValueError, match="must start with a letter"):
        Plugin("demo").event(name)(lambda *a: None)
    with pytest.raises(ValueError, match="plugin name"):
        Plugin(name)


@pytest.mark.parametrize("missing", ["start", "stop"])
def test_services_must_define_start_and_stop(missing):
    methods = {"start": lambda self, ctx: None, "stop": lambda self: None}
    del methods[missing]
    cls = type("Broken", (), methods)
    with pytest.raises(TypeError, match=f"service 'broken' must define {missing}\\(\\)"):
        Plugin("demo").service("broken")(cls)


# --- manifest -------------------------------------------------------------------


def test_manifest_carries_every_component():
    p = Plugin("demo", version="2.1.0", description="A demo.", dependencies=["time"], priority=7)

    @p.action("GREET", description="Greets.", similes=["HELLO", "HI"], examples=[[
        {"speaker": "user", "text": "hello"},
        {"speaker": "agent", "text": "hi there", "actions": ["GREET"]},
    ]])
    def greet(ctx, message, state, options, callback): ...

    p.provider("CLOCK", position=-5, dynamic=True, private=True)(lambda *a: None)
    p.evaluator("REFLECT", description="Reflects.", always_run=True, similes=["THINK"])(lambda *a: None)
    p.service("svc", description="Counts.")(Svc)
    p.model("TEXT_EMBEDDING", priority=3)(lambda *a: None)
    p.event("B_EVENT")(lambda *a: None)
    p.event("A_EVENT")(lambda *a: None)

    m = p.manifest()
    assert isinstance(m, plugin_pb2.PluginManifest)
    assert (m.name, m.version, m.description, list(m.dependencies), m.priority) == ("demo", "2.1.0", "A demo.", ["time"], 7)

    (action,) = m.actions
    assert (action.name, action.description, list(action.similes)) == ("GREET", "Greets.", ["HELLO", "HI"])
    (conversation,) = action.examples
    assert [(t.speaker, t.text, list(t.actions)) for t in conversation.turns] == [
        ("user", "hello", []), ("agent", "hi there", ["GREET"])]

    (provider,) = m.providers
    assert (provider.name, provider.position, provider.dynamic, provider.private) == ("CLOCK", -5, True, True)
    (evaluator,) = m.evaluators
    assert (evaluator.name, evaluator.description, evaluator.always_run, list(evaluator.similes)) == (
        "REFLECT", "Reflects.", True, ["THINK"])
    assert [(s.name, s.description) for s in m.services] == [("svc", "Counts.")]
    assert [(h.model_type, h.priority) for h in m.model_handlers] == [("TEXT_EMBEDDING", 3)]
    assert list(m.events) == ["A_EVENT", "B_EVENT"]


def test_provider_defaults_in_the_manifest():
    p = Plugin("demo")
    p.provider("PLAIN")(lambda *a: None)
    (provider,) = p.manifest().providers
    assert (provider.position, provider.dynamic, provider.private) == (0, False, False)


# --- conversion -----------------------------------------------------------------


def test_memory_round_trips():
    memory = Memory(
        id="m1", entity_id="e1", agent_id="a1", room_id="r1", world_id="w1", created_at_ms=1234567890123,
        table_name="facts", metadata=NESTED,
        content=Content(text="hello", actions=["REPLY", "GREET"], source="api", thought="be nice",
                        attachments=[Attachment(id="att", url="https://x/y.png", content_type="image/png",
                                                title="Y", description="a y", text="alt")],
                        extra={"reply_to": {"ids": ["a", "b"]}}),
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


def test_a_non_json_like_value_in_a_dataclass_raises_at_conversion():
    with pytest.raises(TypeError, match="not JSON-like"):
        action_result_to_proto(ActionResult(values={"when": object()}))


# --- harness: components ----------------------------------------------------------


async def test_sync_and_async_handlers_both_work():
    p = Plugin("demo")

    @p.provider("SYNC")
    def sync_provider(ctx, message, state):
        return ProviderResult(text=f"sync {message.content.text}")

    @p.provider("ASYNC")
    async def async_provider(ctx, message, state):
        return ProviderResult(text=f"async {message.content.text}")

    harness = PluginHarness(p)
    assert (await harness.get_provider("SYNC", MESSAGE)).text == "sync hi"
    assert (await harness.get_provider("ASYNC", MESSAGE)).text == "async hi"


async def test_provider_returning_str_or_none_becomes_a_provider_result():
    p = Plugin("demo")
    p.provider("STR")(lambda ctx, message, state: "plain text")
    p.provider("NONE")(lambda ctx, message, state: None)
    p.provider("WRONG")(lambda ctx, message, state: 42)
    harness = PluginHarness(p)
    assert await harness.get_provider("STR", MESSAGE) == ProviderResult(text="plain text")
    assert await harness.get_provider("NONE", MESSAGE) == ProviderResult()
    with pytest.raises(TypeError, match="provider 'WRONG' returned int"):
        await harness.get_provider("WRONG", MESSAGE)


async def test_handlers_receive_the_context_config_and_state():
    p = Plugin("demo")
    p.provider("CFG")(lambda ctx, message, state: f"{ctx.plugin} {ctx.agent_id} {ctx.setting('K')} {state.values['v']}")
    harness = PluginHarness(p, config={"K": "configured"}, agent_id="agent-7")
    result = await harness.get_provider("CFG", MESSAGE, State(values={"v": "stated"}))
    assert result.text == "demo agent-7 configured stated"


async def test_invoke_action_collects_callbacks_and_passes_options():
    p = Plugin("demo")

    @p.action("WORK")
    async def work(ctx, message, state, options, callback):
        await callback(Content(text="step 1"))
        await callback(Content(text="step 2"))
        return ActionResult(text=f"done {options['n']}")

    callbacks, result = await PluginHarness(p).invoke_action("WORK", MESSAGE, options={"n": 3})
    assert [c.text for c in callbacks] == ["step 1", "step 2"]
    assert result == ActionResult(text="done 3")


async def test_action_returning_str_or_none_becomes_an_action_result():
    p = Plugin("demo")
    p.action("STR")(lambda ctx, message, state, options, callback: "said")
    p.action("NONE")(lambda ctx, message, state, options, callback: None)
    p.action("WRONG")(lambda ctx, message, state, options, callback: ["no"])
    harness = PluginHarness(p)
    assert (await harness.invoke_action("STR", MESSAGE))[1] == ActionResult(text="said")
    assert (await harness.invoke_action("NONE", MESSAGE))[1] == ActionResult()
    with pytest.raises(TypeError, match="'WRONG' returned list"):
        await harness.invoke_action("WRONG", MESSAGE)


async def test_validate_defaults_to_true_and_uses_the_validator():
    p = Plugin("demo")
    p.action("ALWAYS")(lambda *a: None)
    p.action("PICKY", validate=lambda ctx, message, state: "please" in message.content.text)(lambda *a: None)
    p.evaluator("EV", validate=lambda ctx, message, state: 0)(lambda *a: None)
    harness = PluginHarness(p)
    assert await harness.validate_action("ALWAYS", MESSAGE) is True
    assert await harness.validate_action("PICKY", MESSAGE) is False
    assert await harness.validate_action("PICKY", Memory(content=Content(text="please"))) is True
    assert await harness.validate_evaluator("EV", MESSAGE) is False


async def test_run_evaluator_gets_the_responses():
    p = Plugin("demo")
    p.evaluator("COUNT")(lambda ctx, message, state, responses: ActionResult(values={"n": len(responses)}))
    result = await PluginHarness(p).run_evaluator("COUNT", MESSAGE, responses=[MESSAGE, MESSAGE])
    assert result.values == {"n": 2}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda h: h.get_provider("NOPE", MESSAGE), "has no provider 'NOPE'"),
        (lambda h: h.invoke_action("NOPE", MESSAGE), "has no action 'NOPE'"),
        (lambda h: h.validate_action("NOPE", MESSAGE), "has no action 'NOPE'"),
        (lambda h: h.run_evaluator("NOPE", MESSAGE), "has no evaluator 'NOPE'"),
        (lambda h: h.use_model("NOPE"), "has no model handler 'NOPE'"),
        (lambda h: h.start_service("NOPE"), "has no service 'NOPE'"),
        (lambda h: h.emit("NOPE"), "does not subscribe to event 'NOPE'"),
    ],
)
async def test_unknown_component_raises(call, message):
    with pytest.raises(UnknownComponent, match=f"plugin 'demo' {message}"):
        await call(PluginHarness(Plugin("demo")))


@pytest.mark.parametrize(
    "returned, expected",
    [
        ("words", ModelOutput(text="words")),
        ([1, 2.5], ModelOutput(embedding=[1.0, 2.5])),
        ((0, 1), ModelOutput(embedding=[0.0, 1.0])),
        ({"label": "yes"}, ModelOutput(data={"label": "yes"})),
        (ModelOutput(text="as is", served_by="me"), ModelOutput(text="as is", served_by="me")),
    ],
)
async def test_model_handler_results_become_model_output(returned, expected):
    p = Plugin("demo")
    p.model("M")(lambda ctx, params: returned)
    assert await PluginHarness(p).use_model("M", prompt="x") == expected


async def test_model_handler_receives_params_and_bad_results_raise():
    p = Plugin("demo")
    p.model("ECHO")(lambda ctx, params: params["prompt"].upper())
    p.model("BAD")(lambda ctx, params: 3)
    harness = PluginHarness(p)
    assert (await harness.use_model("ECHO", prompt="ping")).text == "PING"
    with pytest.raises(TypeError, match="model handler 'BAD' returned int"):
        await harness.use_model("BAD")


async def test_events_reach_every_subscriber():
    p = Plugin("demo")
    seen = []
    p.event("TICK")(lambda ctx, payload: seen.append(("sync", payload["n"])))

    @p.event("TICK")
    async def second(ctx, payload):
        seen.append(("async", payload["n"]))

    await PluginHarness(p).emit("TICK", {"n": 1})
    assert sorted(seen) == [("async", 1), ("sync", 1)]


async def test_init_hooks_run_once_before_the_first_call():
    p = Plugin("demo")
    inits = []
    p.on_init(lambda ctx: inits.append(ctx.plugin))
    p.provider("P")(lambda ctx, message, state: str(len(inits)))
    harness = PluginHarness(p)
    assert (await harness.get_provider("P", MESSAGE)).text == "1"
    await harness.get_provider("P", MESSAGE)
    assert inits == ["demo"]


async def test_services_start_once_and_stop():
    p = Plugin("demo")
    p.service("svc")(Svc)
    Svc.starts = Svc.stops = 0
    harness = PluginHarness(p)
    await harness.start_service("svc")
    await harness.start_service("svc")
    assert (Svc.starts, Svc.stops) == (1, 0)
    await harness.stop_services()
    await harness.stop_services()
    assert (Svc.starts, Svc.stops) == (1, 1)


async def test_one_failing_service_stop_does_not_keep_the_others_running():
    p = Plugin("demo")
    stopped = []

    @p.service("bad")
    class Bad:
        async def start(self, ctx): ...
        async def stop(self):
            raise RuntimeError("stuck")

    @p.service("good")
    class Good:
        async def start(self, ctx): ...
        async def stop(self):
            stopped.append("good")

    harness = PluginHarness(p)
    await harness.start_service("bad")
    await harness.start_service("good")
    await harness.stop_services()
    assert stopped == ["good"]


# --- FakeHost -------------------------------------------------------------------


async def test_fake_host_memories():
    host = FakeHost()
    first = await host.create_memory(Memory(room_id="r1", content=Content(text="first")))
    assert first.id and first.created_at_ms > 0 and first.table_name == "messages"
    await host.create_memory(Memory(room_id="r1", content=Content(text="second")))
    await host.create_memory(Memory(room_id="r2", content=Content(text="other room")))
    await host.create_memory(Memory(room_id="r1", table_name="facts", content=Content(text="a fact")))

    assert [m.content.text for m in await host.get_memories("r1")] == ["second", "first"]
    assert [m.content.text for m in await host.get_memories("r1", count=1)] == ["second"]
    assert [m.content.text for m in await host.get_memories("r1", table_name="facts")] == ["a fact"]
    assert await host.get_memories("nowhere") == []


async def test_fake_host_keeps_given_ids():
    host = FakeHost()
    stored = await host.create_memory(Memory(id="mine", created_at_ms=5, table_name="t"))
    assert (stored.id, stored.created_at_ms, stored.table_name) == ("mine", 5, "t")


async def test_fake_host_entities():
    host = FakeHost()
    bob = await host.upsert_entity(Entity(names=["Bob"]))
    assert bob.id
    assert await host.get_entity(bob.id) == Entity(id=bob.id, names=["Bob"])
    await host.upsert_entity(Entity(id=bob.id, names=["Robert"]))
    assert (await host.get_entity(bob.id)).names == ["Robert"]
    assert await host.get_entity("missing") is None


async def test_fake_host_settings_and_events():
    host = FakeHost(settings={"UNITS": "metric"})
    assert await host.get_setting("UNITS") == "metric"
    assert await host.get_setting("MISSING") is None
    payload = {"a": 1}
    await host.emit_event("HAPPENED", payload)
    await host.emit_event("BARE")
    payload["a"] = 2  # the recorded payload is a copy
    assert host.events == [("HAPPENED", {"a": 1}), ("BARE", {})]


async def test_fake_host_models():
    host = FakeHost(models={
        "TEXT": lambda params: f"echo {params['prompt']}",
        "EMBED": lambda params: [0.5, 1.5],
        "RAW": lambda params: ModelOutput(text="raw", served_by="custom"),
    })
    assert await host.use_model("TEXT", prompt="hi") == ModelOutput(text="echo hi", served_by="fake")
    assert await host.use_model("EMBED") == ModelOutput(embedding=[0.5, 1.5], served_by="fake")
    assert await host.use_model("RAW") == ModelOutput(text="raw", served_by="custom")
    with pytest.raises(LookupError, match="FakeHost has no model handler for 'NONE'"):
        await host.use_model("NONE")


async def test_harness_handlers_reach_the_fake_host():
    p = Plugin("demo")

    @p.action("REMEMBER")
    async def remember(ctx, message, state, options, callback):
        await ctx.host.create_memory(Memory(room_id=message.room_id, content=Content(text="noted")))
        return await ctx.host.get_setting("GREETING")

    host = FakeHost(settings={"GREETING": "hello"})
    _, result = await PluginHarness(p, host=host).invoke_action("REMEMBER", MESSAGE)
    assert result.text == "hello"
    assert [m.content.text for m in await host.get_memories("room-1")] == ["noted"]
