"""Benchmark: embeddings and knowledge with the shipped local embedding model (all-MiniLM-L6-v2,
the GGUF `make install` made, in the router's worker process).

- model: texts/s of the model itself (router.local_embedding, no host, no router service), one
  text per call and 8 per call; the floor the end-to-end figures are compared with;
- host: a real host with its real router process; a `--pages`-page PDF (100 by default, ~1,500
  characters a page) added to knowledge: the add itself (read, split, store: what the CLI waits
  for), then the embedding queue until every fragment is embedded (fragments/s, and as a ratio of
  the model's one-text-per-call rate: the cost of the router call around each text). Once per
  `--concurrency` value, a fresh host each: the queue's calls at once (1: strictly one after
  another; 2: the default, one call's router and host work overlapping the other's embedding).

    .venv/bin/python bench/knowledge.py            # 100 pages, ~2 min
    .venv/bin/python bench/knowledge.py --pages 10 --texts 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "tests"))
from common import run_and_report  # noqa: E402  (while this folder is on sys.path)
from pdf_fixture import make_pdf  # noqa: E402

# bench/router.py would shadow the router package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from host.config import HostConfig  # noqa: E402
from host.host import Host  # noqa: E402
from host.memory import Knowledge  # noqa: E402
from router.local_embedding import LocalEmbeddingModel  # noqa: E402
from router.local_types import default_embedding_path  # noqa: E402

SUBJECTS = ["the warehouse", "our library", "the night shift", "the garden", "the finance team", "the lab"]
VERBS = ["checks", "updates", "reviews", "cleans", "counts", "records"]
OBJECTS = ["the inventory", "every invoice", "the safety log", "the greenhouse", "the backups", "each sample"]


def page_text(page: int) -> str:
    """~1,500 characters of varied sentences (a PDF line each page, as pdf_fixture writes)."""
    sentences: list[str] = []
    i = page * 7
    while sum(len(s) + 1 for s in sentences) < 1500:
        s, v, o = SUBJECTS[i % 6], VERBS[(i // 6) % 6], OBJECTS[(i // 36) % 6]
        sentences.append(f"On page {page}, {s} {v} {o} before {8 + i % 10} o'clock, item {i}.")
        i += 1
    return " ".join(sentences)


async def model_rate(texts: list[str]) -> dict[str, float]:
    model = LocalEmbeddingModel(default_embedding_path(), name="bench-embed", n_ctx=512)
    try:
        await model.embed(texts[:2])  # load
        start = time.perf_counter()
        for text in texts:
            await model.embed([text])
        single = len(texts) / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(0, len(texts), 8):
            await model.embed(texts[i : i + 8])
        batched = len(texts) / (time.perf_counter() - start)
    finally:
        await model.aclose()
    return {"texts_per_s_one_per_call": single, "texts_per_s_8_per_call": batched}


async def host_ingestion(pages: int, concurrency: int, tmp: Path) -> dict[str, Any]:
    config = HostConfig(listen=f"unix://{tmp}/host.sock", data_dir=tmp / "data", router_address="")
    host = Host(config)
    await host.start()
    try:
        assert host.embeddings is not None
        host.embeddings.concurrency = concurrency
        if not await host.embeddings.ready(180):
            raise RuntimeError(f"no embedding model: {host.embeddings.status.last_error}")
        pdf = make_pdf([page_text(p) for p in range(pages)])
        knowledge = Knowledge(host.store, host.embeddings, host.agent_id)
        start = time.perf_counter()
        doc, _ = await knowledge.add("bench.pdf", pdf)
        add_s = time.perf_counter() - start
        before = host.embeddings.status.embedded
        start = time.perf_counter()
        if not await host.embeddings.drained(3600):
            raise RuntimeError("the queue did not finish within an hour")
        embed_s = time.perf_counter() - start
        embedded = host.embeddings.status.embedded - before
        status = host.embeddings.status
        return {
            "concurrency": concurrency,
            "pages": doc.pages,
            "pdf_bytes": len(pdf),
            "fragments": doc.fragments,
            "add_s": add_s,
            "embed_s": embed_s,
            "embedded": embedded,
            "fragments_per_s": doc.fragments / embed_s,
            "model": status.model,
            "dimension": status.dimension,
        }
    finally:
        await host.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    texts = [page_text(p)[:1000] for p in range(args.texts)]
    results: dict[str, Any] = {"model": await model_rate(texts), "host": []}
    one = results["model"]["texts_per_s_one_per_call"]
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as tmp:
            ingestion = await host_ingestion(args.pages, concurrency, Path(tmp))
        ingestion["x_model_one_per_call"] = ingestion["fragments_per_s"] / one
        results["host"].append(ingestion)
    results["loadavg_1m"] = os.getloadavg()[0]
    results["cpus"] = os.cpu_count()
    return results


def report(results: dict[str, Any]) -> None:
    m = results["model"]
    print(
        f"model alone: {m['texts_per_s_one_per_call']:.1f} texts/s one per call, "
        f"{m['texts_per_s_8_per_call']:.1f} texts/s 8 per call (1,000-character texts)"
    )
    for h in results["host"]:
        print(
            f"host, {h['concurrency']} calls at once: {h['pages']}-page PDF ({h['pdf_bytes']} bytes) -> "
            f"{h['fragments']} fragments; add {h['add_s']:.2f} s; embedded in {h['embed_s']:.1f} s = "
            f"{h['fragments_per_s']:.2f} fragments/s ({h['x_model_one_per_call']:.2f}x the model alone, one per call) "
            f"by {h['model']} ({h['dimension']})"
        )
    print(json.dumps(results, separators=(",", ":")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--pages", type=int, default=100, help="pages of the PDF ingested")
    parser.add_argument("--texts", type=int, default=32, help="texts for the model-alone rates")
    parser.add_argument(
        "--concurrency",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 2],
        help="the embedding queue's calls at once, a host run for each (default 1,2)",
    )
    return run_and_report(run, report, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
