"""Stage train_fhir_relevance: a cross-encoder (MiniLM) on (question, resource, relevant?) train pairs.

``train_data`` picks the training questions: ``llm`` (generate@fhir_qa's LLM-written questions: positives =
the cited resources, negatives = other resources of that patient), ``templated`` (fhir_qa_testset's
train-split pairs) or ``both``. Evaluation is always on the templated test-split questions.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.relevance import PairConfig  # noqa: E402
from clinsynth.fhir.synthetic import TrainData, relevance_training_pairs  # noqa: E402
from clinsynth.params import ConfigError, load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.cross_encoder import (CrossEncoderConfig, pretrained_factory, resolve_model_dir,  # noqa: E402
                                              save_cross_encoder, train_cross_encoder)


@dataclasses.dataclass(frozen=True)
class TrainFhirRelevanceConfig:
    model: str  # "pkg:<package>/<dir>" or a local Hugging Face folder
    train_data: TrainData  # llm | templated | both
    pairs: str  # fhir_qa_testset's pairs_train.jsonl (templated)
    generations: str  # generate@fhir_qa's parsed LLM-written questions
    resources: str  # fhir_ingest's flattened resources (negatives of the LLM-written questions)
    llm_pairs: PairConfig  # pair sampling for the LLM-written questions
    out_dir: str
    train: CrossEncoderConfig


def main() -> None:
    from transformers import AutoTokenizer

    base = load_base()
    cfg = load_params("train_fhir_relevance", TrainFhirRelevanceConfig)
    model_dir = resolve_model_dir(cfg.model)
    pairs = relevance_training_pairs(cfg.train_data, read_jsonl(cfg.pairs), read_jsonl(cfg.generations),
                                     read_jsonl(cfg.resources), cfg.llm_pairs, base.seed)
    examples = [(p.question, p.text, p.label) for p in pairs["llm"] + pairs["templated"]]
    if not examples:
        raise ConfigError(f"train_fhir_relevance: train_data {cfg.train_data!r} gives no pair "
                         f"({cfg.generations}: no parsed generation?)")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model, result = train_cross_encoder(pretrained_factory(model_dir), tokenizer, examples, cfg.train, base.seed)
    counts = {k: {"pairs": len(v), "positive": sum(p.label for p in v), "questions": len({p.question_id for p in v})}
              for k, v in pairs.items()}
    save_cross_encoder(model, tokenizer, cfg.out_dir, {"base_model": cfg.model, "max_length": cfg.train.max_length,
                                                       "steps": result.steps, "train_pairs": len(examples),
                                                       "train_data": cfg.train_data, "train_counts": counts})
    write_json(Path(base.paths.metrics) / "timing" / "train_fhir_relevance.json",
               {"train_seconds": round(result.seconds, 1), "train_cpu_seconds": round(result.cpu_seconds, 1),
                "load_average_1min": round(os.getloadavg()[0], 1), "steps": result.steps, "threads": cfg.train.threads})
    print(f"train_fhir_relevance: {cfg.train_data}: {counts}; {result.steps} steps in {result.seconds:.0f} s "
          f"({result.cpu_seconds:.0f} s CPU), loss {result.loss_first:.3f} -> {result.loss_last:.3f}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
