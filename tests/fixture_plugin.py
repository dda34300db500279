"""A plugin that misbehaves on request: the helper-process pattern.

The host runs this file as a plugin; AGENTHOST_TEST_MODE says how to behave, so
every failure mode the host must handle is a real process doing it:

  ok                 a working plugin (name from AGENTHOST_TEST_NAME)
  not-a-handshake    prints chatter as its first line
  wrong-core         handshake with core protocol version 2
  wrong-app          handshake with app protocol version 99
  silent             never prints a handshake
  exit-at-once       writes an error to stderr and exits 3
  bad-manifest       Describe returns a manifest with an empty provider name
  wrong-name         Describe returns another plugin's name
  die-after-init     exits 1 half a second after Init (crash loop)
  block-loop         its provider blocks the event loop forever (health fails)
  service-fails      its service raises on start
  descendants        starts two `sleep`s on Init: one in its process group, one that
                     left it (setsid); their pids are stored in room "descendants"
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from plugin_sdk import ActionResult, Content, Plugin, ProviderResult, serve
from plugin_sdk.protocol import ENV_SOCKET_DIR

MODE = os.environ.get("AGENTHOST_TEST_MODE", "ok")
NAME = os.environ.get("AGENTHOST_TEST_NAME", "fixture")
VERSION = os.environ.get("AGENTHOST_TEST_VERSION", "1.0.0")
PREFIX = os.environ.get("AGENTHOST_TEST_PREFIX", NAME.upper())

DEPENDENCIES = [d for d in os.environ.get("AGENTHOST_TEST_DEPS", "").split(",") if d]
PRIORITY = int(os.environ.get("AGENTHOST_TEST_PRIORITY", "0"))

plugin = Plugin(NAME, version=VERSION, dependencies=DEPENDENCIES, priority=PRIORITY)


@plugin.provider(f"{PREFIX}_ECHO", position=5)
async def echo(ctx, message, state):
    if MODE == "block-loop":
        time.sleep(3600)
    return ProviderResult(text=message.content.text, values={"pid": os.getpid(), "version": VERSION})


@plugin.provider(f"{PREFIX}_FAILING", dynamic=True)
async def failing(ctx, message, state):
    raise RuntimeError("this provider always fails")


@plugin.action(f"{PREFIX}_SLOW", description="Sleeps options.seconds, then answers with its pid.")
async def slow(ctx, message, state, options, callback):
    await callback(Content(text="working"))
    await asyncio.sleep(float(options.get("seconds", 0.1)))
    return ActionResult(text=f"done by {os.getpid()}", values={"pid": os.getpid(), "version": VERSION})


@plugin.action(
    f"{PREFIX}_PICKY",
    description="Applies only when asked politely.",
    validate=lambda ctx, message, state: "please" in message.content.text,
)
async def picky(ctx, message, state, options, callback):
    return ActionResult(text="thank you")


@plugin.action(f"{PREFIX}_CRASH", description="Kills this process in the middle of the call.")
async def crash(ctx, message, state, options, callback):
    await callback(Content(text="about to crash"))
    os._exit(9)


@plugin.action(f"{PREFIX}_HANG", description="Never answers.")
async def hang(ctx, message, state, options, callback):
    await asyncio.sleep(3600)


@plugin.action(f"{PREFIX}_BAD_RESULT", description="Returns a value that cannot cross the wire.")
async def bad_result(ctx, message, state, options, callback):
    return ActionResult(values={"when": object()})


@plugin.action(f"{PREFIX}_WHAT_I_SEE", description="Reports its environment's names and one setting.")
async def what_i_see(ctx, message, state, options, callback):
    setting = await ctx.host.get_setting(str(options.get("key", "")))
    return ActionResult(values={"env": sorted(os.environ), "setting": setting})


@plugin.action(f"{PREFIX}_CALLBACK_HOST", description="Exercises every RuntimeService call.")
async def callback_host(ctx, message, state, options, callback):
    from plugin_sdk import Entity, Memory

    stored = await ctx.host.create_memory(Memory(room_id="room-1", content=Content(text="remember me")))
    recent = await ctx.host.get_memories("room-1")
    entity = await ctx.host.upsert_entity(Entity(names=["Bob"], metadata={"likes": "tea"}))
    fetched = await ctx.host.get_entity(entity.id)
    missing = await ctx.host.get_entity("no-such-entity")
    setting = await ctx.host.get_setting("GREETING")
    unset = await ctx.host.get_setting("NO_SUCH_SETTING")
    model = await ctx.host.use_model("TEXT_SMALL", prompt="ping", max_tokens=8)
    delivered = await ctx.host.emit_event("FIXTURE_EVENT", {"from": NAME})
    return ActionResult(
        values={
            "stored_id": stored.id,
            "recent": [m.content.text for m in recent],
            "entity_names": fetched.names if fetched else [],
            "missing_is_none": missing is None,
            "setting": setting,
            "unset_is_none": unset is None,
            "model_text": model.text,
            "model_served_by": model.served_by,
            "delivered": delivered,
        }
    )


@plugin.service(f"{NAME}-recorder", description="Notes in the host when it starts.")
class Recorder:
    async def start(self, ctx):
        if MODE == "service-fails":
            raise RuntimeError("recorder cannot open its journal")
        from plugin_sdk import Memory

        await ctx.host.create_memory(Memory(room_id="inits", content=Content(text=f"service {NAME}")))

    async def stop(self):
        pass


@plugin.model("TEXT_SMALL")
async def small_model(ctx, params):
    return f"{NAME} says: {str(params.get('prompt', '')).upper()}"


@plugin.event("FIXTURE_EVENT")
async def on_event(ctx, payload):
    ctx.log.info("event from %s", payload.get("from"))


@plugin.on_init
async def init(ctx):
    from plugin_sdk import Memory

    await ctx.host.create_memory(Memory(room_id="inits", content=Content(text=NAME)))
    if MODE == "die-after-init":
        asyncio.get_running_loop().call_later(0.5, os._exit, 1)
    if MODE == "descendants":
        import subprocess

        children = [subprocess.Popen(["sleep", "600"]), subprocess.Popen(["setsid", "sleep", "600"])]
        await asyncio.sleep(0.2)  # setsid has exec'd sleep by now
        pids = " ".join(str(child.pid) for child in children)
        await ctx.host.create_memory(Memory(room_id="descendants", content=Content(text=pids)))


def _handshake(core: int, app: int) -> None:
    path = os.path.join(os.environ.get(ENV_SOCKET_DIR, "/tmp"), f"{NAME}.sock")
    print(f"{core}|{app}|unix|{path}|grpc|", flush=True)
    time.sleep(30)


if __name__ == "__main__":
    if MODE == "not-a-handshake":
        print("Starting up, hello!", flush=True)
        time.sleep(30)
    elif MODE == "wrong-core":
        _handshake(2, 1)
    elif MODE == "wrong-app":
        _handshake(1, 99)
    elif MODE == "silent":
        time.sleep(3600)
    elif MODE == "exit-at-once":
        print("fixture: cannot open config file /nonexistent", file=sys.stderr, flush=True)
        sys.exit(3)
    elif MODE == "bad-manifest":
        manifest = plugin.manifest()
        manifest.providers.add(name="")
        plugin.manifest = lambda: manifest  # type: ignore[method-assign]
        serve(plugin)
    elif MODE == "wrong-name":
        manifest = plugin.manifest()
        manifest.name = "someone-else"
        plugin.manifest = lambda: manifest  # type: ignore[method-assign]
        serve(plugin)
    else:
        serve(plugin)
