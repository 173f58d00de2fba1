"""Stage finetune_fhir_answer: LoRA of the generator on (question + its relevant resources -> answer) pairs.

``train_data``: ``llm`` (generate@fhir_qa's LLM-written questions, their cited resources and answers),
``templated`` (fhir_qa_testset's train-split questions) or ``both``. Pairs are rendered with the answer
template the evaluation uses (gold resources, newest first). ``qlora: true`` loads the base in 4-bit NF4
(bitsandbytes) and fails at once, naming what is missing, where bitsandbytes or CUDA is not available.
Only ``training_mode: separate`` exists (see docs/fhir_qa.md: the relevance model is a separate MiniLM).
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.flatten import Resource  # noqa: E402
from clinsynth.fhir.synthetic import TrainData, answer_pairs, llm_questions, training_questions  # noqa: E402
from clinsynth.fhir.templated import Question  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.lora import LoraTrainConfig, qlora_factory, save_adapter, train_lora  # noqa: E402


@dataclasses.dataclass(frozen=True)
class FinetuneFhirAnswerConfig:
    base_model: str  # HF directory of the generator (stage generator_model)
    train_data: TrainData  # llm | templated | both
    generations: str  # generate@fhir_qa's parsed LLM-written questions
    questions: str  # fhir_qa_testset's qa_train.jsonl (templated)
    resources: str
    template: str  # the answer prompt (the evaluation renders the same)
    max_pairs: int  # seeded sample of the pairs; 0: all
    max_context_resources: int
    qlora: bool  # 4-bit NF4 base (bitsandbytes, CUDA); false: plain LoRA
    out_dir: str
    train: LoraTrainConfig


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = load_base()
    cfg = load_params("finetune_fhir_answer", FinetuneFhirAnswerConfig)
    factory = (qlora_factory(cfg.base_model) if cfg.qlora else  # fails here, before any work, without bitsandbytes/CUDA
               lambda: AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="float32", local_files_only=True))
    llm = llm_questions(read_jsonl(cfg.generations)) if cfg.train_data != "templated" else []
    templated = [Question(**q) for q in read_jsonl(cfg.questions)] if cfg.train_data != "llm" else []
    questions = training_questions(cfg.train_data, llm, templated)
    if cfg.max_pairs and len(questions) > cfg.max_pairs:
        questions = sorted(random.Random(base.seed).sample(questions, cfg.max_pairs), key=lambda q: q.id)
    by_id = {row["id"]: Resource(**row) for row in read_jsonl(cfg.resources) if row["split"] == "train"}
    pairs = answer_pairs(questions, by_id, cfg.template, cfg.max_context_resources)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model, local_files_only=True)
    model, result = train_lora(factory, tokenizer, pairs, cfg.train, base.seed)
    facts = {k: v for k, v in dataclasses.asdict(result).items() if k != "seconds"}
    facts |= {"loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4),
              "train_data": cfg.train_data, "llm_questions": len(llm), "templated_questions": len(templated),
              "base_model": cfg.base_model, "qlora": cfg.qlora}
    save_adapter(model, cfg.out_dir, facts)
    write_json(Path(base.paths.metrics) / "finetune_fhir_answer.json", facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_fhir_answer.json", {"seconds": round(result.seconds, 1)})
    print(f"finetune_fhir_answer: {cfg.train_data}: {len(pairs)} pairs, {result.steps} steps, loss "
          f"{result.loss_first:.3f} -> {result.loss_last:.3f} in {result.seconds:.0f} s -> {cfg.out_dir}")


if __name__ == "__main__":
    main()
