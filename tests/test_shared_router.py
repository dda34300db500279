"""A shared router (`router_address`) that goes away and comes back: the host's model calls wait
for it within their deadline, as they wait for a spawned router that restarts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from agents_support import ScriptedRouter, character, router_fixture  # noqa: F401 (a fixture)
from test_agents import PROBE, reply, send


async def test_a_message_waits_for_a_shared_router_that_comes_back(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    scripted, address = router
    host = await start_host(PROBE, characters=(character(tmp_path, "Alpha"),), router_address=address)
    assert reply(await send(host, "", "room", "hello")).startswith("I am Alpha")
    await scripted.stop()  # the router goes away between two messages

    started = time.monotonic()
    sending = asyncio.create_task(send(host, "", "room", "are you there?"))
    await asyncio.sleep(1.5)
    assert not sending.done()  # waiting for the router, not failed at once
    back = ScriptedRouter()
    await back.start(address)
    try:
        said = reply(await asyncio.wait_for(sending, 20))
    finally:
        await back.stop()
    assert said.startswith("I am Alpha") and time.monotonic() - started >= 1.5
    assert [call.text for call in back.calls] == ["are you there?"]  # answered by the router that came back
