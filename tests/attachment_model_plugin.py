"""A plugin with deterministic IMAGE_DESCRIPTION and TRANSCRIPTION models, for the attachment tests.

It answers from the bytes it was given, so a test can tell that the attachment's own bytes reached
the model: an image is "a <type> image of N bytes starting <hex>", audio "heard N bytes of <format>".
Bytes containing FAIL make the model fail; SLOW make it take 5 s.
"""

from __future__ import annotations

import asyncio
import base64

from plugin_sdk import Plugin, serve

plugin = Plugin("eyes", version="1.0.0", description="Scripted image and audio models for attachment tests.")


async def _trouble(data: bytes) -> None:
    if b"FAIL" in data:
        raise RuntimeError("the scripted model cannot read this")
    if b"SLOW" in data:
        await asyncio.sleep(5)


@plugin.model("IMAGE_DESCRIPTION")
async def describe(ctx, params):
    (message,) = params["messages"]
    (url,) = message["image_urls"]
    header, _, payload = url.partition(",")
    data = base64.b64decode(payload)
    await _trouble(data)
    mime = header.removeprefix("data:").removesuffix(";base64")
    return f"a {mime} image of {len(data)} bytes starting {data[:4].hex()} (asked: {message['content'][:8]})"


@plugin.model("TRANSCRIPTION")
async def transcribe(ctx, params):
    data = base64.b64decode(params["audio"])
    await _trouble(data)
    return f"heard {len(data)} bytes of {params['audio_format']}"


if __name__ == "__main__":
    serve(plugin)
