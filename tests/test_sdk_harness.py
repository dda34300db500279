"""The test harness and FakeHost: a plugin's components called without processes."""

import pytest

from plugin_sdk import ActionResult, Content, Entity, Memory, ModelOutput, Plugin, ProviderResult, State
from plugin_sdk._runner import UnknownComponent
from plugin_sdk.testing import FakeHost, PluginHarness

MESSAGE = Memory(content=Content(text="hi"), room_id="room-1")
NESTED = {
    "n": 3,
    "pi": 3.5,
    "ok": True,
    "none": None,
    "s": "x",
    "list": [1, "two", [3], {"four": 4}],
    "deep": {"a": {"b": ["c", {"d": False}]}},
}


class Svc:
    """A service that counts its starts and stops."""

    starts = 0
    stops = 0

    async def start(self, ctx):
        Svc.starts += 1

    async def stop(self):
        Svc.stops += 1


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
    assert result == ActionResult(text="done 3.0")  # options cross the wire as a Struct: numbers are floats


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
    host = FakeHost(
        models={
            "TEXT": lambda params: f"echo {params['prompt']}",
            "EMBED": lambda params: [0.5, 1.5],
            "RAW": lambda params: ModelOutput(text="raw", served_by="custom"),
        }
    )
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


# --- the wire conversion, as with the real host -----------------------------------------


async def test_values_cross_the_same_conversion_as_with_the_host():
    p = Plugin("demo")
    seen = {}

    @p.action("ECHO")
    async def echo(ctx, message, state, options, callback):
        seen.update(options=options, metadata=message.metadata, state=state.values)
        await callback(Content(text="cb", extra={"n": 1}))
        stored = await ctx.host.create_memory(Memory(room_id="r", metadata={"n": 2, "t": (1, 2)}))
        return ActionResult(values={"n": 3, "stored": stored.metadata})

    harness = PluginHarness(p)
    message = Memory(content=Content(text="hi"), metadata={"n": 4})
    callbacks, result = await harness.invoke_action("ECHO", message, State(values={"n": 5}), options={"n": 6})
    assert seen == {"options": {"n": 6.0}, "metadata": {"n": 4.0}, "state": {"n": 5.0}}
    assert all(isinstance(v["n"], float) for v in seen.values())
    assert callbacks[0].extra == {"n": 1.0} and isinstance(callbacks[0].extra["n"], float)
    assert result.values == {"n": 3.0, "stored": {"n": 2.0, "t": [1.0, 2.0]}}
    assert isinstance(result.values["n"], float)
    assert message.metadata == {"n": 4}  # the caller's objects are not the handler's


async def test_a_value_the_host_could_not_send_raises_naming_it():
    p = Plugin("demo")
    p.provider("BAD")(lambda ctx, message, state: ProviderResult(values={"when": object()}))
    with pytest.raises(TypeError, match=r"values\['when'\] \(object\) is not JSON-like"):
        await PluginHarness(p).get_provider("BAD", MESSAGE)


async def test_ctx_service_returns_the_running_instance():
    p = Plugin("demo")

    @p.service("counter")
    class Counter:
        def __init__(self):
            self.n = 0

        async def start(self, ctx):
            self.n = 10

        async def stop(self):
            pass

    @p.action("BUMP")
    async def bump(ctx, message, state, options, callback):
        counter = ctx.service("counter")
        counter.n += 1
        return ActionResult(values={"n": counter.n})

    harness = PluginHarness(p)
    with pytest.raises(LookupError, match="plugin 'demo' has no running service 'counter' \\(running: none\\)"):
        await harness.invoke_action("BUMP", MESSAGE)
    await harness.start_service("counter")
    assert (await harness.invoke_action("BUMP", MESSAGE))[1].values == {"n": 11}
    assert (await harness.invoke_action("BUMP", MESSAGE))[1].values == {"n": 12}
    await harness.stop_services()
    with pytest.raises(LookupError, match="has no running service 'counter'"):
        await harness.invoke_action("BUMP", MESSAGE)
