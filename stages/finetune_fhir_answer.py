"""Stage finetune_fhir_answer: LoRA of the generator on (question + its relevant resources -> answer) pairs.

``train_data``: ``llm`` (generate@fhir_qa's LLM-written questions, their cited resources and answers),
``templated`` (fhir_qa_testset's train-split questions) or ``both``. Pairs are rendered with the answer
template the evaluation uses (gold resources, newest first). ``qlora: true`` loads the base in 4-bit NF4
(bitsandbytes) and fails at once, naming what is missing, where bitsandbytes or CUDA is not available.
This is the answer model of the ``separate`` training mode (relevance is the MiniLM of train_fhir_relevance);
the ``sequential`` mode (finetune_fhir_sequential) continues one adapter from relevance to these same pairs,
read from this section (docs/fhir_qa.md).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.synthetic import TrainData, answer_training_pairs  # noqa: E402
from clinsynth.params import NonNegativeInt, PositiveInt, load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.lora import LoraTrainConfig, qlora_factory, result_facts, save_adapter, train_lora  # noqa: E402


@dataclasses.dataclass(frozen=True)
class FinetuneFhirAnswerConfig:
    base_model: str  # HF directory of the generator (stage generator_model)
    train_data: TrainData  # llm | templated | both
    generations: str  # generate@fhir_qa's parsed LLM-written questions
    questions: str  # fhir_qa_testset's qa_train.jsonl (templated)
    resources: str
    template: str  # the answer prompt (the evaluation renders the same)
    max_pairs: NonNegativeInt  # seeded sample of the pairs; 0: all
    max_context_resources: PositiveInt
    qlora: bool  # 4-bit NF4 base (bitsandbytes, CUDA); false: plain LoRA
    out_dir: str
    train: LoraTrainConfig


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = load_base()
    cfg = load_params("finetune_fhir_answer", FinetuneFhirAnswerConfig)
    factory = (qlora_factory(cfg.base_model) if cfg.qlora else  # fails here, before any work, without bitsandbytes/CUDA
               lambda: AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="float32", local_files_only=True))
    pairs, counts = answer_training_pairs(cfg.train_data, read_jsonl(cfg.generations), read_jsonl(cfg.questions),
                                          read_jsonl(cfg.resources), cfg.template, cfg.max_context_resources,
                                          cfg.max_pairs, base.seed)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model, local_files_only=True)
    model, result = train_lora(factory, tokenizer, pairs, cfg.train, base.seed)
    facts = result_facts(result) | counts | {"train_data": cfg.train_data, "base_model": cfg.base_model,
                                             "qlora": cfg.qlora}
    save_adapter(model, cfg.out_dir, facts)
    write_json(Path(base.paths.metrics) / "finetune_fhir_answer.json", facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_fhir_answer.json", {"seconds": round(result.seconds, 1)})
    print(f"finetune_fhir_answer: {cfg.train_data}: {len(pairs)} pairs, {result.steps} steps, loss "
          f"{result.loss_first:.3f} -> {result.loss_last:.3f} in {result.seconds:.0f} s -> {cfg.out_dir}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
