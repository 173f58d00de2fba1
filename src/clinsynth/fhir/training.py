"""The three FHIR trainings as functions of their configs and inputs; the stages are their I/O shells.

Settings the trainings and the evaluation share are said once, in params.yaml ``fhir`` (:class:`FhirConfig`):
the gated corpus and the resources they read, the generator the adapters tune, the relevance and answer
training data (:class:`~clinsynth.fhir.synthetic.RelevanceData`, :class:`~clinsynth.fhir.synthetic.AnswerData`,
the answer template and context size included), relevance as generation
(:class:`~clinsynth.fhir.relevance_lm.RelevanceLmConfig`) and the models' folders. Each stage section holds
only what is its own.

- :func:`train_relevance` (train_fhir_relevance): a MiniLM cross-encoder on ``fhir.relevance`` pairs.
- :func:`finetune_answer` (finetune_fhir_answer): the answer LoRA on ``fhir.answer`` pairs (the ``separate``
  mode's answer model); ``qlora: true`` loads the base in 4-bit NF4 and fails at once without bitsandbytes/CUDA.
- :func:`finetune_sequential` (finetune_fhir_sequential): ONE adapter, phase 1 relevance as yes/no generation
  on the same pairs as the cross-encoder (a seeded sample of ``max_pairs``), phase 2 the SAME adapter on the
  answer pairs with ``fhir.answer.train``; the adapter's shape (r, alpha, target_modules) is that one's, phase 1
  overrides only lengths, batch, steps, learning rate and bf16.

Facts written next to each adapter (``training.json``) name the template and its sha that rendered the pairs.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.fhir.relevance_lm import RelevanceLmConfig, relevance_lora_pairs
from clinsynth.fhir.synthetic import (AnswerData, RelevanceData, answer_training_pairs, read_corpus,
                                      relevance_training_pairs)
from clinsynth.params import ConfigError, NonNegativeInt, PositiveFloat, PositiveInt
from clinsynth.prompting import Template
from clinsynth.records import SyntheticRecord, read_jsonl
from clinsynth.training.cross_encoder import CrossEncoderConfig
from clinsynth.training.lora import AdapterCard, LoraTrainConfig, result_facts, train_lora


@dataclasses.dataclass(frozen=True)
class FhirModels:
    relevance: str  # train_fhir_relevance's cross-encoder
    answer: str  # finetune_fhir_answer's LoRA adapter
    sequential: str  # finetune_fhir_sequential's adapter (relevance, then answers)


@dataclasses.dataclass(frozen=True)
class FhirConfig:
    """params.yaml ``fhir``: the FHIR settings shared by the trainings and the evaluation."""

    corpus: str  # postprocess@fhir_qa's gated corpus (the LLM-written questions)
    resources: str  # fhir_ingest's flattened resources
    base_model: str  # HF directory of the generator the adapters tune (stage generator_model)
    relevance: RelevanceData
    answer: AnswerData
    relevance_lm: RelevanceLmConfig
    models: FhirModels


@dataclasses.dataclass(frozen=True)
class TrainFhirRelevanceConfig:
    model: str  # "pkg:<package>/<dir>" or a local Hugging Face folder
    train: CrossEncoderConfig
    checkpoint_every: NonNegativeInt = 0  # steps between resumable checkpoints (0: none)


@dataclasses.dataclass(frozen=True)
class FinetuneFhirAnswerConfig:
    qlora: bool  # 4-bit NF4 base (bitsandbytes, CUDA); false: plain LoRA
    checkpoint_every: NonNegativeInt = 0  # steps between resumable checkpoints (0: none)


@dataclasses.dataclass(frozen=True)
class PhaseOneTrain:
    """Phase 1's overrides of ``fhir.answer.train``; its max_length is ``fhir.relevance_lm.max_length``."""

    min_reply_tokens: NonNegativeInt  # the reply is "yes"/"no" + eos
    batch_size: PositiveInt
    max_steps: PositiveInt
    learning_rate: PositiveFloat
    warmup_steps: NonNegativeInt
    bf16: bool  # phase 1 measured 4.7 s/step float32 vs 7.0 s/step bf16 autocast (batch 4 x ~120 tokens, 1 thread)


@dataclasses.dataclass(frozen=True)
class SequentialRelevancePhase:
    max_pairs: NonNegativeInt  # seeded sample of the relevance pairs; 0: all
    train: PhaseOneTrain


@dataclasses.dataclass(frozen=True)
class FinetuneFhirSequentialConfig:
    relevance: SequentialRelevancePhase  # phase 1; phase 2 is fhir.answer
    checkpoint_every: NonNegativeInt = 0  # steps between resumable checkpoints of each phase (0: none)


@dataclasses.dataclass(frozen=True)
class FhirInputs:
    """What a training reads, loaded (:func:`read_inputs`); a source its ``train_data`` does not use is empty."""

    corpus: list[SyntheticRecord]
    resources: list[dict[str, Any]]  # rows of resources.jsonl
    pairs: list[dict[str, Any]]  # rows of pairs_train.jsonl (templated relevance pairs)
    questions: list[dict[str, Any]]  # rows of qa_train.jsonl (templated questions)


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    model: Any
    facts: dict[str, Any]  # training.json / the stage metrics (no wall clock: reruns stay byte-identical)
    timing: dict[str, Any]  # metrics/timing/<stage>.json
    summary: str  # the stage's one log line
    # per-step rows by plot variant: "" -> metrics/plots/<stage>.json, "<v>" -> metrics/plots/<stage>_<v>.json
    history: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    card: AdapterCard | None = None  # an adapter's model card (save_adapter)


def read_inputs(fhir: FhirConfig, relevance: bool, answer: bool) -> FhirInputs:
    """Read the inputs the relevance and/or answer training data need under their ``train_data`` switches."""
    sources = ([fhir.relevance.train_data] if relevance else []) + ([fhir.answer.train_data] if answer else [])
    llm, templated = any(s != "templated" for s in sources), any(s != "llm" for s in sources)
    return FhirInputs(corpus=read_corpus(fhir.corpus) if llm else [],
                      resources=list(read_jsonl(fhir.resources)) if answer or llm else [],
                      pairs=list(read_jsonl(fhir.relevance.pairs)) if relevance and templated else [],
                      questions=list(read_jsonl(fhir.answer.questions)) if answer and templated else [])


def template_facts(template: Template) -> dict[str, str]:
    return {"template": template.name, "template_sha": template.sha}


def pair_counts(pairs: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, int]]:
    return {k: {"pairs": len(v), "positive": sum(p.label for p in v), "questions": len({p.question_id for p in v})}
            for k, v in pairs.items()}


def checkpoint_at(directory: str | None, every: int):
    from clinsynth.training.trainer_support import TrainerCheckpoint

    return TrainerCheckpoint(directory, every)


def train_relevance(cfg: TrainFhirRelevanceConfig, fhir: FhirConfig, inputs: FhirInputs, seed: int,
                    checkpoint_dir: str | None = None) -> TrainingRun:
    """The cross-encoder; ``model`` is a ``CrossEncoder``, ``facts`` its meta (save_cross_encoder); a killed
    training resumes from ``checkpoint_dir`` (saved every ``cfg.checkpoint_every`` steps)."""
    from clinsynth.training.cross_encoder import (CrossEncoderCard, pretrained_factory, resolve_model_dir,
                                                  train_cross_encoder)

    model_dir = resolve_model_dir(cfg.model)
    pairs = relevance_training_pairs(fhir.relevance, inputs.corpus, inputs.pairs, inputs.resources, seed)
    examples = [(p.question, p.text, p.label) for p in pairs["llm"] + pairs["templated"]]
    if not examples:
        raise ConfigError(f"train_fhir_relevance: train_data {fhir.relevance.train_data!r} gives no pair "
                          f"({fhir.corpus}: no gated record?)")
    card = CrossEncoderCard(model_name=f"clinsynth FHIR QA relevance cross-encoder ({cfg.model})",
                            task_name="FHIR QA resource relevance (question, flattened resource)",
                            train_datasets=tuple(f"clinsynth fhir_qa {k} relevance pairs" for k, v in pairs.items() if v))
    model, result = train_cross_encoder(pretrained_factory(model_dir, cfg.train.max_length, card), examples,
                                        cfg.train, seed, checkpoint=checkpoint_at(checkpoint_dir, cfg.checkpoint_every))
    counts = pair_counts(pairs)
    meta = {"base_model": cfg.model, "max_length": cfg.train.max_length, "steps": result.steps,
            "train_pairs": len(examples), "train_data": fhir.relevance.train_data, "train_counts": counts}
    timing = {"train_seconds": round(result.seconds, 1), "train_cpu_seconds": round(result.cpu_seconds, 1),
              "seconds_per_step": round(result.seconds / max(1, result.steps), 3),
              "load_average_1min": round(os.getloadavg()[0], 1), "steps": result.steps, "threads": cfg.train.threads}
    summary = (f"train_fhir_relevance: {fhir.relevance.train_data}: {counts}; {result.steps} steps in "
               f"{result.seconds:.0f} s ({result.cpu_seconds:.0f} s CPU), loss {result.loss_first:.3f} -> "
               f"{result.loss_last:.3f}")
    return TrainingRun(model, meta, timing, summary, {"": result.history.plot_rows()})


def train_settings(cfg: LoraTrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def causal_lm_factory(base_model: str):
    from transformers import AutoModelForCausalLM

    return lambda: AutoModelForCausalLM.from_pretrained(base_model, dtype="float32", local_files_only=True)


def finetune_answer(cfg: FinetuneFhirAnswerConfig, fhir: FhirConfig, inputs: FhirInputs, template: Template,
                    seed: int, checkpoint_dir: str | None = None) -> TrainingRun:
    """The answer LoRA on the ``fhir.answer`` pairs rendered with ``template``; a killed training resumes from
    ``checkpoint_dir`` (saved every ``cfg.checkpoint_every`` steps)."""
    from transformers import AutoTokenizer

    from clinsynth.training.lora import qlora_factory

    # qlora: fails here, before any work, without bitsandbytes/CUDA
    factory = qlora_factory(fhir.base_model) if cfg.qlora else causal_lm_factory(fhir.base_model)
    pairs, counts = answer_training_pairs(fhir.answer, template, inputs.corpus, inputs.questions, inputs.resources,
                                          seed)
    tokenizer = AutoTokenizer.from_pretrained(fhir.base_model, local_files_only=True)
    model, result = train_lora(factory, tokenizer, pairs, fhir.answer.train, seed,
                               checkpoint=checkpoint_at(checkpoint_dir, cfg.checkpoint_every))
    facts = result_facts(result) | counts | template_facts(template) | {
        "train_data": fhir.answer.train_data, "base_model": fhir.base_model, "qlora": cfg.qlora}
    summary = (f"finetune_fhir_answer: {fhir.answer.train_data}: {len(pairs)} pairs, {result.steps} steps, loss "
               f"{result.loss_first:.3f} -> {result.loss_last:.3f} in {result.seconds:.0f} s -> {fhir.models.answer}")
    card = AdapterCard("clinsynth FHIR QA answer LoRA", "finetune_fhir_answer", fhir.base_model,
                       f"(question + its gold FHIR resources -> answer) pairs, train_data {fhir.answer.train_data!r}, "
                       f"rendered with template {template.name}.",
                       train_settings(fhir.answer.train) | {"qlora": cfg.qlora})
    timing = {"seconds": round(result.seconds, 1), "seconds_per_step": round(result.seconds / max(1, result.steps), 3),
              "load_average_1min": round(os.getloadavg()[0], 1)}
    return TrainingRun(model, facts, timing, summary, {"": result.history.plot_rows()}, card)


def finetune_sequential(cfg: FinetuneFhirSequentialConfig, fhir: FhirConfig, inputs: FhirInputs,
                        templates: Mapping[str, Template], seed: int, checkpoint_dir: str | None = None) -> TrainingRun:
    """ONE adapter: phase 1 relevance (``templates["relevance"]``), phase 2 answers (``templates["answer"]``).

    Each phase checkpoints in ``checkpoint_dir + "_<phase>"`` every ``cfg.checkpoint_every`` steps; a run killed in
    phase 2 retrains phase 1 (deterministic, so phase 2's checkpoint still matches) and resumes phase 2."""
    from transformers import AutoTokenizer

    rel = cfg.relevance
    sources = relevance_training_pairs(fhir.relevance, inputs.corpus, inputs.pairs, inputs.resources, seed)
    pairs = sources["llm"] + sources["templated"]
    if rel.max_pairs and len(pairs) > rel.max_pairs:
        pairs = random.Random(seed).sample(pairs, rel.max_pairs)
    answers, counts = answer_training_pairs(fhir.answer, templates["answer"], inputs.corpus, inputs.questions,
                                            inputs.resources, seed)
    tokenizer = AutoTokenizer.from_pretrained(fhir.base_model, local_files_only=True)
    # prompts cut to the length the evaluation's scorer cuts them to
    phase1 = dataclasses.replace(fhir.answer.train, **dataclasses.asdict(rel.train),
                                 max_length=fhir.relevance_lm.max_length)
    def phase_checkpoint(phase: str):
        return checkpoint_at(f"{checkpoint_dir}_{phase}" if checkpoint_dir else None, cfg.checkpoint_every)

    relevance_model, first = train_lora(causal_lm_factory(fhir.base_model), tokenizer,
                                        relevance_lora_pairs(pairs, templates["relevance"]), phase1, seed,
                                        checkpoint=phase_checkpoint("relevance"))
    # phase 2 continues phase 1's adapter (train_lora adds none to a peft model)
    model, second = train_lora(lambda: relevance_model, tokenizer, answers, fhir.answer.train, seed,
                               checkpoint=phase_checkpoint("answer"))
    facts = {"relevance": result_facts(first) | template_facts(templates["relevance"]) | {
                 "train_data": fhir.relevance.train_data, "positive": sum(p.label for p in pairs),
                 "available": {k: len(v) for k, v in sources.items()}},
             "answer": result_facts(second) | counts | template_facts(templates["answer"]) | {
                 "train_data": fhir.answer.train_data},
             "base_model": fhir.base_model}
    timing = {"relevance_seconds": round(first.seconds, 1), "answer_seconds": round(second.seconds, 1),
              "relevance_seconds_per_step": round(first.seconds / max(1, first.steps), 3),
              "answer_seconds_per_step": round(second.seconds / max(1, second.steps), 3),
              "load_average_1min": round(os.getloadavg()[0], 1)}
    summary = (f"finetune_fhir_sequential: relevance {len(pairs)} pairs, {first.steps} steps, loss "
               f"{first.loss_first:.3f} -> {first.loss_last:.3f} in {first.seconds:.0f} s; answers {len(answers)} "
               f"pairs, {second.steps} steps, loss {second.loss_first:.3f} -> {second.loss_last:.3f} in "
               f"{second.seconds:.0f} s -> {fhir.models.sequential}")
    card = AdapterCard("clinsynth FHIR QA sequential LoRA (relevance, then answers)", "finetune_fhir_sequential",
                       fhir.base_model,
                       f"Phase 1: (question + one FHIR resource -> yes/no) relevance pairs, train_data "
                       f"{fhir.relevance.train_data!r}, template {templates['relevance'].name}. Phase 2, the same "
                       f"adapter continued: (question + gold resources -> answer) pairs, train_data "
                       f"{fhir.answer.train_data!r}, template {templates['answer'].name}.",
                       {"relevance": train_settings(phase1), "answer": train_settings(fhir.answer.train)})
    history = {"relevance": first.history.plot_rows(), "answer": second.history.plot_rows()}
    return TrainingRun(model, facts, timing, summary, history, card)
