"""The bi-encoder: a sentence-transformers model, mean pooling over real tokens, L2-normalised (cosine = dot).

Two towers, possibly the same model: ``tune: shared`` trains one siamese encoder for queries and
chunks; ``tune: query`` (the CPU default) trains the query tower only and keeps the chunk tower at
the pre-trained weights, so chunk embeddings are computed once (for training and for every
evaluated system) instead of back-propagated through 200-token chunks every step.

A saved retriever (``save_retriever``) is a sentence-transformers folder, so ``SentenceTransformer(path)``
loads it (Transformer -> mean Pooling -> Normalize; ``query_length`` / ``document_length`` saved in
``sentence_bert_config.json``, so ``encode_query`` / ``encode_document`` truncate as trained), plus::

    README.md         the model card the library writes (base model, pair file, hyper-parameters, loss)
    retriever.json    {"chunk_tower": "same" | "<model spec>", "query_max_length", "chunk_max_length", ...}

``chunk_tower`` other than ``"same"``: the folder is the query tower only and chunks are embedded by that
model spec (``pkg:<package>/<dir>`` or a local folder, ``clinsynth.params.package_path``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from clinsynth.params import package_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
META_FILE = "retriever.json"
Task = Literal["query", "document"]


def set_determinism(seed: int, threads: int) -> None:
    """Seeded, ``threads`` intra-op threads, deterministic kernels: the same inputs give the same bits."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``hidden [B, T, H]``, ``mask [B, T]`` (1 = real token) -> ``[B, H]`` mean over real tokens.

    What the models' ``Pooling(pooling_mode="mean")`` computes; kept as the reference the tests check it by.
    """
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def ensure_normalized(model: SentenceTransformer) -> SentenceTransformer:
    """Append a ``Normalize`` module when the model does not end with one (embeddings are unit vectors)."""
    from sentence_transformers.base.modules import Normalize

    if not isinstance(model[len(model) - 1], Normalize):
        model.append(Normalize())
    return model


def load_encoder(spec: str | Path) -> SentenceTransformer:
    """A sentence-transformers model from a model spec or folder, offline, on CPU, in eval mode."""
    from sentence_transformers import SentenceTransformer

    path = package_path(str(spec))
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"model {str(spec)!r}: {path} has no modules.json; expected a sentence-transformers "
                                "folder (Transformer + Pooling [+ Normalize])")
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.model_card_data.local_files_only = True  # never ask the Hub about base models or datasets
    return ensure_normalized(model).eval()


def set_lengths(model: SentenceTransformer, query_max_length: int, chunk_max_length: int) -> None:
    """Token truncation per side: ``encode_query`` and the trainer's ``query`` column stop at
    ``query_max_length``, ``encode_document`` and the ``chunk`` column at ``chunk_max_length``."""
    model[0].query_length = query_max_length
    model[0].document_length = chunk_max_length


@torch.inference_mode()
def encode(model: SentenceTransformer, texts: Sequence[str], task: Task, batch_size: int = 64,
           progress: bool = True) -> torch.Tensor:
    """Normalised mean-pooled float32 embeddings ``[N, H]`` in input order (queries or chunks, by ``task``).

    sentence-transformers batches by length (less padding) and restores the order.
    """
    if not texts:
        return torch.zeros(0, model.get_embedding_dimension())
    fn = model.encode_query if task == "query" else model.encode_document
    vectors = fn(list(texts), batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                 show_progress_bar=progress)
    return vectors.float().cpu()


def save_retriever(model: SentenceTransformer, out_dir: Path | str, meta: dict[str, Any]) -> None:
    """``model.save`` (weights, tokenizer, modules, model card) plus ``retriever.json``."""
    out = Path(out_dir)
    model.save(str(out))
    (out / META_FILE).write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def read_meta(path: Path | str) -> dict[str, Any]:
    meta_path = Path(path) / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: no {META_FILE}; expected a folder written by train_retriever")
    return json.loads(meta_path.read_text(encoding="utf-8"))


def load_retriever(path: Path | str) -> tuple[SentenceTransformer, dict[str, Any]]:
    """(query tower, meta) of a saved retriever folder; the chunk tower is ``load_chunk_tower``."""
    meta = read_meta(path)
    return load_encoder(path), meta


def load_chunk_tower(path: Path | str, meta: dict[str, Any]) -> SentenceTransformer:
    """The model that embeds chunks for the retriever at ``path``: itself, or the base model (``tune: query``)."""
    model = load_encoder(path if meta["chunk_tower"] == "same" else meta["chunk_tower"])
    set_lengths(model, meta["query_max_length"], meta["chunk_max_length"])
    return model
