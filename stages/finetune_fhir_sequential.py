"""Stage finetune_fhir_sequential: ONE LoRA adapter of the generator, tuned on relevance, then on answers.

The ``sequential`` training mode of FHIR QA (the paper's one-model variant; ``separate`` = train_fhir_relevance's
MiniLM + finetune_fhir_answer's LoRA). Phase 1: relevance pairs, built as train_fhir_relevance builds them
(``relevance.train_data``: llm | templated | both), rendered as generation (``relevance.template`` ->
"yes"/"no", :mod:`clinsynth.fhir.relevance_lm`), a seeded sample of ``relevance.max_pairs``. Phase 2: the SAME
adapter continues on the answer pairs finetune_fhir_answer builds, with ``answer.train`` (the same LoRA settings
and step budget: params.yaml shares them by anchor). The adapter's shape (r, alpha, target_modules) is
``answer.train``'s; phase 1 overrides only lengths, batch, steps, learning rate and bf16.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.relevance import PairConfig  # noqa: E402
from clinsynth.fhir.relevance_lm import relevance_lora_pairs  # noqa: E402
from clinsynth.fhir.synthetic import TrainData, answer_training_pairs, relevance_training_pairs  # noqa: E402
from clinsynth.params import NonNegativeInt, PositiveFloat, PositiveInt, load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.lora import LoraTrainConfig, result_facts, save_adapter, train_lora  # noqa: E402


@dataclasses.dataclass(frozen=True)
class PhaseOneTrain:
    max_length: PositiveInt  # relevance prompts are short (~120 SmolLM2 tokens)
    min_reply_tokens: NonNegativeInt  # the reply is "yes"/"no" + eos
    batch_size: PositiveInt
    max_steps: PositiveInt
    learning_rate: PositiveFloat
    warmup_steps: NonNegativeInt
    bf16: bool  # phase 1 measured 4.7 s/step float32 vs 7.0 s/step bf16 autocast (batch 4 x ~120 tokens, 1 thread)


@dataclasses.dataclass(frozen=True)
class RelevancePhase:  # pair sources as train_fhir_relevance
    train_data: TrainData  # llm | templated | both
    pairs: str  # fhir_qa_testset's pairs_train.jsonl
    generations: str  # generate@fhir_qa's parsed LLM-written questions
    resources: str
    llm_pairs: PairConfig
    template: str  # relevance as generation: question + resource -> yes | no
    max_pairs: NonNegativeInt  # seeded sample of the pairs; 0: all
    train: PhaseOneTrain


@dataclasses.dataclass(frozen=True)
class AnswerPhase:  # as finetune_fhir_answer
    train_data: TrainData
    generations: str
    questions: str  # fhir_qa_testset's qa_train.jsonl
    resources: str
    template: str
    max_pairs: NonNegativeInt
    max_context_resources: PositiveInt
    train: LoraTrainConfig


@dataclasses.dataclass(frozen=True)
class FinetuneFhirSequentialConfig:
    base_model: str  # HF directory of the generator (stage generator_model)
    out_dir: str
    relevance: RelevancePhase
    answer: AnswerPhase


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = load_base()
    cfg = load_params("finetune_fhir_sequential", FinetuneFhirSequentialConfig)
    rel, ans = cfg.relevance, cfg.answer
    sources = relevance_training_pairs(rel.train_data, read_jsonl(rel.pairs), read_jsonl(rel.generations),
                                       read_jsonl(rel.resources), rel.llm_pairs, base.seed)
    pairs = sources["llm"] + sources["templated"]
    if rel.max_pairs and len(pairs) > rel.max_pairs:
        pairs = random.Random(base.seed).sample(pairs, rel.max_pairs)
    answers, counts = answer_training_pairs(ans.train_data, read_jsonl(ans.generations), read_jsonl(ans.questions),
                                            read_jsonl(ans.resources), ans.template, ans.max_context_resources,
                                            ans.max_pairs, base.seed)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model, local_files_only=True)
    phase1 = dataclasses.replace(ans.train, **dataclasses.asdict(rel.train))
    factory = lambda: AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="float32", local_files_only=True)  # noqa: E731
    relevance_model, first = train_lora(factory,
                                        tokenizer, relevance_lora_pairs(pairs, rel.template), phase1, base.seed)
    # phase 2 continues phase 1's adapter (train_lora adds none to a peft model)
    model, second = train_lora(lambda: relevance_model, tokenizer, answers, ans.train, base.seed)
    facts = {"relevance": result_facts(first) | {"train_data": rel.train_data, "positive": sum(p.label for p in pairs),
                                                 "available": {k: len(v) for k, v in sources.items()}},
             "answer": result_facts(second) | counts | {"train_data": ans.train_data},
             "base_model": cfg.base_model}
    save_adapter(model, cfg.out_dir, facts)
    write_json(Path(base.paths.metrics) / "finetune_fhir_sequential.json", facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_fhir_sequential.json",
               {"relevance_seconds": round(first.seconds, 1), "answer_seconds": round(second.seconds, 1)})
    print(f"finetune_fhir_sequential: relevance {len(pairs)} pairs, {first.steps} steps, loss {first.loss_first:.3f} -> "
          f"{first.loss_last:.3f} in {first.seconds:.0f} s; answers {len(answers)} pairs, {second.steps} steps, loss "
          f"{second.loss_first:.3f} -> {second.loss_last:.3f} in {second.seconds:.0f} s -> {cfg.out_dir}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
