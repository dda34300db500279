"""The reply streams: REPLY_DELTA events carry its text while the router streams the model's
output (InvokeStream), then REPLY carries the whole. A scripted RouterService on a unix socket
stands in for the router."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from support import api_channel

from host.agent.responses import TextStream
from host.host import Host
from plugin_sdk.wire import struct_to_dict


class StreamingRouter(router_pb2_grpc.RouterServiceServicer):
    """Streams "<response>...<text>You said: TEXT &amp; more</text></response>" 4 characters at a
    time; "garbage" in the message: the first stream is not a reply."""

    def __init__(self) -> None:
        self.task_ids: list[str] = []
        self.garbage_sent = False
        self.server: Any = None

    async def InvokeStream(
        self, request: router_pb2.InvokeStreamRequest, context: Any
    ) -> AsyncIterator[router_pb2.InvokeStreamResponse]:
        text = request.request.messages[-1].content
        self.task_ids.append(request.request.meta.task_id)
        if "garbage" in text and not self.garbage_sent:
            self.garbage_sent = True
            xml = "<text>half a thought and no"
        else:
            said = f"<text>You said: {text} &amp; more</text>"
            xml = f"<response><thought>t</thought><actions>REPLY</actions>{said}</response>"
        for i in range(0, len(xml), 4):
            yield router_pb2.InvokeStreamResponse(delta=xml[i : i + 4])
        yield router_pb2.InvokeStreamResponse(done=router_pb2.InvokeResponse(text=xml, provider="s", model="s"))

    async def start(self, address: str) -> None:
        self.server = grpc.aio.server()
        router_pb2_grpc.add_RouterServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(address)
        await self.server.start()


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[tuple[StreamingRouter, str]]:
    scripted, address = StreamingRouter(), f"unix://{tmp_path}/router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.server.stop(0)


async def events_of(host: Host, text: str) -> list[tuple[str, str, dict[str, Any]]]:
    request = agent_pb2.SendMessageRequest(room_id="r", entity_id="u", content=types_pb2.Content(text=text))
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return [
            (e.event_type, e.content.text, struct_to_dict(e.content.extra)) async for e in stub.SendMessage(request)
        ]


async def test_the_reply_reaches_the_sender_in_pieces_then_whole(start_host: Any, router: Any) -> None:
    scripted, address = router
    host = await start_host(router_address=address)
    events = await events_of(host, "hi")
    kinds = [kind for kind, _, _ in events]
    assert kinds[0] == "RUN_STARTED" and kinds[-2:] == ["REPLY", "RUN_ENDED"]
    deltas = [text for kind, text, _ in events if kind == "REPLY_DELTA"]
    assert len(deltas) > 3 and set(kinds[1:-2]) == {"REPLY_DELTA"}
    assert "".join(deltas) == "You said: hi & more" == events[-2][1]
    run_id = (await host.store.list_runs(host.agent_id))[0].id
    assert scripted.task_ids == [run_id]  # the run is the router's task scope, streamed or not


async def test_a_retried_reply_streams_again_as_a_new_attempt(start_host: Any, router: Any) -> None:
    host = await start_host(router_address=router[1])
    events = await events_of(host, "garbage first")
    by_attempt: dict[int, str] = {}
    for kind, text, extra in events:
        if kind == "REPLY_DELTA":
            by_attempt[int(extra["attempt"])] = by_attempt.get(int(extra["attempt"]), "") + text
    assert by_attempt == {1: "half a thought and no", 2: "You said: garbage first & more"}
    assert [t for k, t, _ in events if k == "REPLY"] == ["You said: garbage first & more"]


@pytest.mark.parametrize(
    ("pieces", "said"),
    [
        (["<resp", "onse><text>He", "llo</te", "xt>"], ["", "He", "llo", ""]),
        (["<text>a &am", "p; b <", " c</text>"], ["a ", "& b ", "< c"]),
        (["<text>  ", " x"], ["", "x"]),
    ],
)
def test_text_stream_holds_back_partial_tags_and_entities(pieces: list[str], said: list[str]) -> None:
    stream, output, got = TextStream(), "", []
    for piece in pieces:
        output += piece
        got.append(stream.feed(output))
    assert got == said
