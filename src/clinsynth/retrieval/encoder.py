"""The bi-encoder: a Hugging Face encoder, mean pooling over real tokens, L2-normalised (cosine = dot).

Two towers, possibly the same model: ``tune: shared`` trains one siamese encoder for queries and
chunks; ``tune: query`` (the CPU default) trains the query tower only and keeps the chunk tower at
the pre-trained weights, so chunk embeddings are computed once (for training and for every
evaluated system) instead of back-propagated through 200-token chunks every step.

A saved retriever (``save_retriever``) is a folder::

    model/            the query tower (Hugging Face format, with its tokenizer)
    retriever.json    {"chunk_tower": "same" | "<model spec>", "query_max_length", "chunk_max_length", ...}

where a model spec is ``pkg:<package>/<dir>`` or a local folder (``resolve_model_dir``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from clinsynth.training.cross_encoder import resolve_model_dir

META_FILE = "retriever.json"


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``hidden [B, T, H]``, ``mask [B, T]`` (1 = real token) -> ``[B, H]`` mean over real tokens."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def embed(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Normalised mean-pooled embeddings ``[B, H]`` (float32), with gradients if enabled."""
    hidden = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    return torch.nn.functional.normalize(mean_pool(hidden.float(), inputs["attention_mask"]), dim=-1)


def tokenize_texts(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Truncated to ``max_length`` tokens, padded to the longest text of the batch."""
    return tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")


@torch.inference_mode()
def encode_texts(model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 64,
                 progress: bool = True, desc: str = "encode") -> torch.Tensor:
    """Embeddings ``[N, H]`` in input order. Texts are batched by length (less padding), then restored."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    out: list[torch.Tensor] = [None] * len(texts)  # type: ignore[list-item]
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not progress):
        idx = order[start:start + batch_size]
        vectors = embed(model, tokenize_texts(tokenizer, [texts[i] for i in idx], max_length))
        for i, vector in zip(idx, vectors):
            out[i] = vector
    if not out:
        return torch.zeros(0, 0)
    return torch.stack(out)


def load_pretrained(spec: str):
    """(model, tokenizer) from a model spec, offline, in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_dir(spec)
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    return model.eval(), AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def save_retriever(model: torch.nn.Module, tokenizer, out_dir: Path | str, meta: dict[str, Any]) -> None:
    out = Path(out_dir)
    (out / "model").mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    (out / META_FILE).write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def load_retriever(path: Path | str) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """(query model, tokenizer, meta) of a saved retriever folder."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: no {META_FILE}; expected a folder written by train_retriever")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = AutoModel.from_pretrained(str(path / "model"), local_files_only=True)
    return model.eval(), AutoTokenizer.from_pretrained(str(path / "model"), local_files_only=True), meta
