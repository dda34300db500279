"""A fake OpenAI-compatible provider for bench/load.py: POST /v1/chat/completions (whole or
streamed) and /v1/embeddings, on 127.0.0.1, in the benchmark's own event loop.

Every chat answer is one reply every parser of a run accepts: the shouldRespond decision
(`<action>RESPOND</action>`), the reply (`<actions>REPLY</actions><text>ok</text>`) and the
reflection (empty `<facts>` and `<relationships>`). Embeddings are a fixed 8-dimensional
vector. Faults, switched by the chaos schedule: `fail` (HTTP 500) and `hang` (no answer until
the fault is cleared) for the models named.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

from aiohttp import web

REPLY = (
    "<response><thought>load</thought><action>RESPOND</action><actions>REPLY</actions>"
    "<text>ok</text><facts></facts><relationships></relationships></response>"
)
VECTOR = [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]


class MockProvider:
    """The server, what it answered (by model and outcome) and the faults in force."""

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()  # "model outcome": ok, failed, hung
        self.failing: set[str] = set()
        self.hanging: set[str] = set()
        self._cleared = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> str:
        """Listen on a free port; returns the api_base (http://127.0.0.1:PORT/v1)."""
        # A hung request's client (the router) gives up and closes: aiohttp would log a traceback
        # for the answer it can no longer write. That is the fault working, not news.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/v1"
        return self.base

    async def stop(self) -> None:
        self.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, *models: str) -> None:
        """The models answer HTTP 500 until clear()."""
        self.failing.update(models)

    def hang(self, *models: str) -> None:
        """The models do not answer until clear()."""
        self._cleared = asyncio.Event()
        self.hanging.update(models)

    def clear(self) -> None:
        self.failing.clear()
        self.hanging.clear()
        self._cleared.set()

    async def _take(self, request: web.Request) -> tuple[dict[str, Any], str, web.Response | None]:
        """The request's body and model, and the fault's answer (None: answer normally)."""
        body: dict[str, Any] = await request.json()
        model = str(body.get("model", ""))
        if model in self.hanging:
            self.served[f"{model} hung"] += 1
            await self._cleared.wait()
        if model in self.failing:
            self.served[f"{model} failed"] += 1
            error = {"error": {"message": "injected failure", "type": "server_error"}}
            return body, model, web.json_response(error, status=500)
        self.served[f"{model} ok"] += 1
        return body, model, None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, model, refused = await self._take(request)
        if refused is not None:
            return refused
        usage = {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
        created = int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": REPLY}
            return web.json_response(
                {
                    "id": "chatcmpl-load",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for delta, finish in (({"role": "assistant", "content": REPLY}, None), ({}, "stop")):
            chunk = {
                "id": "chatcmpl-load",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if finish:
                chunk["usage"] = usage
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body, model, refused = await self._take(request)
        if refused is not None:
            return refused
        inputs = body.get("input", "")
        count = len(inputs) if isinstance(inputs, list) else 1
        data = [{"object": "embedding", "index": i, "embedding": VECTOR} for i in range(count)]
        usage = {"prompt_tokens": 5 * count, "total_tokens": 5 * count}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})
