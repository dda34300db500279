"""CPU per reply of the shipped chat model in a conversation, with and without the chat worker's
prompt cache (router/local_worker.py PROMPT_CACHE_BYTES).

Each turn sends the default character's system prompt, the conversation so far and the new
message, as the pipeline's reply does, then another prompt (a reflection-like call with another
system prompt), as the pipeline's evaluators do between two replies. Without the cache llama.cpp
keeps only the last prompt it evaluated, so each reply's prompt is evaluated whole again.

    .venv/bin/python bench/prompt_cache.py [--rounds 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.local_types import default_model_path  # noqa: E402
from router.local_worker import PROMPT_CACHE_BYTES  # noqa: E402

TURNS = ["who are you?", "what can you do?", "tell me a joke", "thanks!", "what is the capital of France?"]


def system_prompt() -> str:
    """The default character's system prompt, bio, style and examples: the start every reply shares."""
    character = json.loads((ROOT / "host/agent/characters/default.json").read_text())
    parts = [character.get("system", ""), *character.get("bio", []), *character.get("style", {}).get("all", [])]
    return "\n".join(parts) + "\nExamples:\n" + json.dumps(character.get("messageExamples", []))[:1500]


def conversation(cached: bool, threads: int) -> tuple[list[float], int]:
    """CPU seconds of each reply, and the last reply's prompt tokens."""
    llama = llama_cpp.Llama(model_path=str(default_model_path()), n_ctx=2048, n_threads=threads, verbose=False)
    if cached:
        llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
    system = {"role": "system", "content": system_prompt()}
    history: list[dict[str, str]] = []
    costs, tokens = [], 0
    for text in TURNS:
        history.append({"role": "user", "content": text})
        began = time.process_time()
        reply = llama.create_chat_completion(messages=[system, *history], max_tokens=40, temperature=0.0)
        costs.append(time.process_time() - began)
        tokens = reply["usage"]["prompt_tokens"]
        history.append({"role": "assistant", "content": reply["choices"][0]["message"]["content"] or ""})
        facts = [{"role": "system", "content": "Extract the facts as JSON."}, {"role": "user", "content": text}]
        llama.create_chat_completion(messages=facts, max_tokens=20, temperature=0.0)
    return costs, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    later: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for cached in (False, True):  # in turns: the same load for both
            costs, tokens = conversation(cached, args.threads)
            later[cached] += costs[1:]
            label = "cache" if cached else "no cache"
            print(f"{label:>8}: CPU s per reply {[round(c, 2) for c in costs]} (last prompt {tokens} tokens)")
    plain, kept = statistics.median(later[False]), statistics.median(later[True])
    print(json.dumps({"cpu_s_per_reply_no_cache": round(plain, 2), "cpu_s_per_reply_cache": round(kept, 2),
                      "ratio": round(kept / plain, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
