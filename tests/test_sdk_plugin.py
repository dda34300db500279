"""The plugin author's side of the SDK: decorators and the manifest they produce."""

import pytest
from agenthost.v1 import plugin_pb2

from plugin_sdk import Plugin


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

    @p.action(
        "GREET",
        description="Greets.",
        similes=["HELLO", "HI"],
        examples=[
            [
                {"speaker": "user", "text": "hello"},
                {"speaker": "agent", "text": "hi there", "actions": ["GREET"]},
            ]
        ],
    )
    def greet(ctx, message, state, options, callback): ...

    p.provider("CLOCK", position=-5, dynamic=True, private=True)(lambda *a: None)
    p.evaluator("REFLECT", description="Reflects.", always_run=True, similes=["THINK"])(lambda *a: None)
    p.service("svc", description="Counts.")(Svc)
    p.model("TEXT_EMBEDDING", priority=3)(lambda *a: None)
    p.event("B_EVENT")(lambda *a: None)
    p.event("A_EVENT")(lambda *a: None)

    m = p.manifest()
    assert isinstance(m, plugin_pb2.PluginManifest)
    assert (m.name, m.version, m.description, list(m.dependencies), m.priority) == (
        "demo",
        "2.1.0",
        "A demo.",
        ["time"],
        7,
    )

    (action,) = m.actions
    assert (action.name, action.description, list(action.similes)) == ("GREET", "Greets.", ["HELLO", "HI"])
    (conversation,) = action.examples
    assert [(t.speaker, t.text, list(t.actions)) for t in conversation.turns] == [
        ("user", "hello", []),
        ("agent", "hi there", ["GREET"]),
    ]

    (provider,) = m.providers
    assert (provider.name, provider.position, provider.dynamic, provider.private) == ("CLOCK", -5, True, True)
    (evaluator,) = m.evaluators
    assert (evaluator.name, evaluator.description, evaluator.always_run, list(evaluator.similes)) == (
        "REFLECT",
        "Reflects.",
        True,
        ["THINK"],
    )
    assert [(s.name, s.description) for s in m.services] == [("svc", "Counts.")]
    assert [(h.model_type, h.priority) for h in m.model_handlers] == [("TEXT_EMBEDDING", 3)]
    assert list(m.events) == ["A_EVENT", "B_EVENT"]


def test_provider_defaults_in_the_manifest():
    p = Plugin("demo")
    p.provider("PLAIN")(lambda *a: None)
    (provider,) = p.manifest().providers
    assert (provider.position, provider.dynamic, provider.private) == (0, False, False)
