"""Benchmark: reading attachments and documents, each against a floor measured in the same run.

1. HTML to text (host/agent/html_text.py) on 1 MB of tag-dense markup and 1 MB of prose, against
   the floor of the standard library's tokenizer alone (html.parser.HTMLParser fed the same text).
2. PDF to text (host/agent/documents.py) on a 100-page PDF, against the floor of pypdf opening it
   and counting its pages (no text extraction).
3. Fetching a 1 MiB body from a local HTTP server (host/agent/fetch.py: a client per fetch, address
   check, the checked address dialled, streamed size limit), against the floor of a plain httpx GET
   of the same URL on a fresh connection from a client made once.

Sides alternate in rounds; each figure is the median over the rounds. Prints a line per case,
then as its last line one JSON object with the figures.

    .venv/bin/python bench/documents.py            # ~10 s
    .venv/bin/python bench/documents.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Awaitable, Callable

import httpx
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pdf_fixture import make_pdf  # noqa: E402

from host.agent.documents import read_document  # noqa: E402
from host.agent.fetch import FetchPolicy, fetch  # noqa: E402
from host.agent.html_text import html_to_text  # noqa: E402

DENSE = "<div><p>Some <b>bold</b> text &amp; more</p><ul><li>a</li><li>b</li></ul></div>" * 12_000
PROSE = ("<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "</p>\n") * 900
BODY = b"x" * (1 << 20)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def tokenize(html: str) -> None:
    parser = HTMLParser()
    parser.feed(html)
    parser.close()


def case(name: str, rounds: int, measured: Callable[[], float], floor: Callable[[], float]) -> dict[str, float]:
    """Median seconds of both sides over alternating rounds, and their ratio."""
    ours, base = [], []
    for _ in range(rounds):
        ours.append(measured())
        base.append(floor())
    return figures(name, statistics.median(ours) * 1000, statistics.median(base) * 1000)


def figures(name: str, ms: float, floor_ms: float) -> dict[str, float]:
    """Print one case's line; its figures for the JSON line."""
    print(f"{name:<28} {ms:9.1f} ms   floor {floor_ms:8.1f} ms   ratio {ms / floor_ms:6.2f}x", flush=True)
    ratio = ms / floor_ms
    return {f"{name}_ms": round(ms, 2), f"{name}_floor_ms": round(floor_ms, 2), f"{name}_ratio": round(ratio, 2)}


class _Body(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


async def fetch_case(rounds: int) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Body)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/body"
    policy = FetchPolicy(allow_private=True, max_bytes=2 << 20)
    try:
        # A fresh connection per GET, as each fetch makes: the floor is the bare request, no reuse.
        async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)) as client:

            async def plain() -> object:
                response = await client.get(url)
                assert len(response.content) == len(BODY)
                return response

            async def ours() -> object:
                got = await fetch(url, policy)
                assert len(got.data) == len(BODY)
                return got

            async def seconds(call: Callable[[], Awaitable[object]]) -> float:
                started = time.perf_counter()
                await call()
                return time.perf_counter() - started

            mine, base = [], []
            for _ in range(rounds):
                mine.append(await seconds(ours))
                base.append(await seconds(plain))
    finally:
        server.shutdown()
        server.server_close()
    return figures("fetch_1mib", statistics.median(mine) * 1000, statistics.median(base) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only")
    rounds = 3 if parser.parse_args().quick else 9
    pdf = make_pdf([f"Page {n}: " + "lorem ipsum dolor sit amet " * 20 for n in range(100)])
    result: dict[str, float] = {}
    result |= case(
        "html_dense_1mb", rounds, lambda: timed(lambda: html_to_text(DENSE)), lambda: timed(lambda: tokenize(DENSE))
    )
    result |= case(
        "html_prose_1mb", rounds, lambda: timed(lambda: html_to_text(PROSE)), lambda: timed(lambda: tokenize(PROSE))
    )
    result |= case(
        "pdf_100_pages",
        rounds,
        lambda: timed(lambda: read_document(pdf, "pdf")),
        lambda: timed(lambda: len(PdfReader(BytesIO(pdf)).pages)),
    )
    result |= asyncio.run(fetch_case(rounds * 3))
    print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
