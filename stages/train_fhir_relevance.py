"""Stage train_fhir_relevance: a cross-encoder (MiniLM) on (question, resource, relevant?) train pairs."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.cross_encoder import (CrossEncoderConfig, pretrained_factory, resolve_model_dir,  # noqa: E402
                                              save_cross_encoder, train_cross_encoder)


@dataclasses.dataclass(frozen=True)
class TrainFhirRelevanceConfig:
    model: str  # "pkg:<package>/<dir>" or a local Hugging Face folder
    pairs: str  # fhir_qa_testset's pairs_train.jsonl
    out_dir: str
    train: CrossEncoderConfig


def main() -> None:
    from transformers import AutoTokenizer

    base = load_base()
    cfg = load_params("train_fhir_relevance", TrainFhirRelevanceConfig)
    model_dir = resolve_model_dir(cfg.model)
    examples = [(p["question"], p["text"], p["label"]) for p in read_jsonl(cfg.pairs)]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model, result = train_cross_encoder(pretrained_factory(model_dir), tokenizer, examples, cfg.train, base.seed)
    save_cross_encoder(model, tokenizer, cfg.out_dir, {"base_model": cfg.model, "max_length": cfg.train.max_length,
                                                       "steps": result.steps, "train_pairs": len(examples)})
    write_json(Path(base.paths.metrics) / "timing" / "train_fhir_relevance.json",
               {"train_seconds": round(result.seconds, 1), "train_cpu_seconds": round(result.cpu_seconds, 1),
                "load_average_1min": round(os.getloadavg()[0], 1), "steps": result.steps, "threads": cfg.train.threads})
    print(f"train_fhir_relevance: {len(examples)} pairs, {result.steps} steps in {result.seconds:.0f} s "
          f"({result.cpu_seconds:.0f} s CPU), "
          f"loss {result.loss_first:.3f} -> {result.loss_last:.3f}")


if __name__ == "__main__":
    main()
