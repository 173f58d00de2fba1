"""LoRA fine-tuning of a causal LM on (chat messages -> reply text) pairs, saved as a standard peft adapter.

Generic: kg_notes tunes the note generator on (codes + symptoms -> real note) pairs; FHIR QA tunes an
answer generator on (question + resources -> answer), and in its sequential mode continues one adapter from
relevance pairs (question + resource -> yes/no) to answer pairs. The base model comes from a ``model_factory`` (tests
build a tiny Llama offline; the pipeline loads the generator directory), so nothing here reads params.

Each pair is rendered with the tokenizer's chat template (``add_generation_prompt=True``) followed by the
reply and the tokenizer's eos token; the loss is on the reply tokens only (prompt tokens are labelled
-100). A pair longer than ``max_length`` keeps its prompt and loses the end of its reply; a prompt that
leaves fewer than ``min_reply_tokens`` for the reply is cut from the left (its start is dropped).
Training is ``transformers.Trainer`` on these rows (the model's own shifted next-token loss, which skips
-100), on CPU, deterministic for a given seed and thread count (the trainer's seeded sampler,
``torch.use_deterministic_algorithms``); per-step history through
:class:`~clinsynth.training.trainer_support.HistoryCallback`, resumable checkpoints through
:class:`~clinsynth.training.trainer_support.TrainerCheckpoint`.

The saved directory (``adapter_config.json`` + ``adapter_model.safetensors`` + the model card ``README.md``) is
what ``generate.transformers.adapter`` and ``peft.PeftModel.from_pretrained`` load.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import torch

from clinsynth.errors import InputError
from clinsynth.params import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from clinsynth.training.history import History, fingerprint, state_digest

if TYPE_CHECKING:  # transformers is imported where a training runs, not by the config's importers
    from clinsynth.training.trainer_support import TrainerCheckpoint


class LoraTrainingError(InputError):
    """No pairs, a tokenizer without chat template or eos, or settings that leave no reply tokens."""


@dataclasses.dataclass(frozen=True)
class LoraTrainConfig:
    r: PositiveInt = 8
    alpha: PositiveInt = 16
    dropout: Annotated[float, Range(0, 1, max_open=True)] = 0.0
    target_modules: list[str] = dataclasses.field(default_factory=lambda: ["q_proj", "v_proj"])
    max_length: PositiveInt = 256  # tokens of prompt + reply
    min_reply_tokens: NonNegativeInt = 64
    batch_size: PositiveInt = 2
    max_steps: PositiveInt = 40
    learning_rate: PositiveFloat = 2e-4
    warmup_steps: NonNegativeInt = 4
    weight_decay: NonNegativeFloat = 0.0
    max_grad_norm: PositiveFloat = 1.0
    threads: PositiveInt = 2
    bf16: bool = False  # bfloat16 autocast for the forward pass


@dataclasses.dataclass(frozen=True)
class Pair:
    messages: list[Mapping[str, str]]  # [{"role", "content"}], without the reply
    reply: str


@dataclasses.dataclass(frozen=True)
class LoraResult:
    steps: int
    pairs: int
    reply_tokens: int  # reply tokens over all pairs (after truncation)
    truncated: int  # pairs whose reply or prompt was cut
    loss_first: float  # mean loss of the first 10% of steps
    loss_last: float  # mean loss of the last 10% of steps
    trainable_parameters: int
    seconds: float
    history: History = dataclasses.field(default_factory=History)  # per-step loss and learning rate


def encode_pair(tokenizer: Any, pair: Pair, max_length: int, min_reply_tokens: int) -> tuple[list[int], list[int], bool]:
    """``(input_ids, labels, truncated)``; labels are -100 on the prompt."""
    if not getattr(tokenizer, "chat_template", None) or tokenizer.eos_token is None:
        raise LoraTrainingError("the tokenizer has no chat template or no eos token; LoRA pairs need both")
    if min_reply_tokens >= max_length:
        raise LoraTrainingError(f"min_reply_tokens {min_reply_tokens} >= max_length {max_length}")
    text = tokenizer.apply_chat_template([dict(m) for m in pair.messages], tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    reply = tokenizer(pair.reply.strip() + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    truncated = False
    if len(prompt) > max_length - min_reply_tokens:
        prompt, truncated = prompt[-(max_length - min_reply_tokens):], True
    if len(prompt) + len(reply) > max_length:
        reply, truncated = reply[:max_length - len(prompt)], True
    return prompt + reply, [-100] * len(prompt) + reply, truncated


def collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask``, ``labels``: each ``[B, T]``."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, :len(x)], labels[i, :len(y)], mask[i, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def add_lora(model: torch.nn.Module, cfg: LoraTrainConfig) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def is_peft_model(model: torch.nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def pair_dataset(encoded: Sequence[tuple[list[int], list[int], bool]]) -> list[dict[str, list[int]]]:
    """The trainer's dataset: one ``{"input_ids", "labels"}`` row per encoded pair (labels -100 on the prompt)."""
    return [{"input_ids": ids, "labels": labels} for ids, labels, _ in encoded]


def training_args(cfg: LoraTrainConfig, seed: int, checkpoint: TrainerCheckpoint, progress: bool):
    from transformers import TrainingArguments

    from clinsynth.training.trainer_support import common_args

    return TrainingArguments(**checkpoint.trainer_args(), remove_unused_columns=False,
                             **common_args(cfg.max_steps, cfg.batch_size, cfg.learning_rate, cfg.warmup_steps,
                                           cfg.weight_decay, cfg.max_grad_norm, cfg.bf16, seed, progress))


def train_lora(model_factory: Callable[[], torch.nn.Module], tokenizer: Any, pairs: Sequence[Pair],
               cfg: LoraTrainConfig, seed: int, progress: bool = True, checkpoint: TrainerCheckpoint | None = None,
               callbacks: Sequence[Any] = ()) -> tuple[torch.nn.Module, LoraResult]:
    """Wrap the factory's model in LoRA and train it with ``transformers.Trainer`` for ``cfg.max_steps`` steps;
    returns the peft model.

    The loss is the model's own next-token loss on our labels (-100 on the prompt and the padding: reply tokens
    only), batches right-padded by :func:`collate`; the schedule is linear, warmup ``cfg.warmup_steps`` from 0.
    A factory that returns a peft model (an earlier ``train_lora``'s result, or ``PeftModel.from_pretrained(...,
    is_trainable=True)``) continues training ITS adapter: no new adapter is added, so ``cfg.r``, ``alpha``,
    ``dropout`` and ``target_modules`` are not read; the optimizer and schedule start afresh with ``cfg``'s
    steps and learning rate (FHIR QA's sequential mode: relevance, then answers, on one adapter).
    With a ``checkpoint``, a checkpoint of the same run is resumed and one saved every ``checkpoint.every``
    steps, deleted when the training completes; ``callbacks`` are more ``TrainerCallback``\\ s.
    """
    from transformers import Trainer

    from clinsynth.training.trainer_support import HistoryCallback, TrainerCheckpoint

    if not pairs:
        raise LoraTrainingError("train_lora: no training pairs")
    checkpoint = checkpoint or TrainerCheckpoint()
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    encoded = [encode_pair(tokenizer, p, cfg.max_length, cfg.min_reply_tokens) for p in pairs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = model_factory()
    model = model if is_peft_model(model) else add_lora(model, cfg)
    resume = checkpoint.resume_from(fingerprint("train_lora", cfg, seed, [e[:2] for e in encoded],
                                                state_digest(model)))
    history = HistoryCallback()
    trainer = Trainer(model=model, args=training_args(cfg, seed, checkpoint, progress), train_dataset=pair_dataset(encoded),
                      data_collator=lambda rows: collate([(r["input_ids"], r["labels"]) for r in rows], pad_id),
                      callbacks=[history, *callbacks])
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    checkpoint.finish()
    model.eval()
    rows = history.history
    return model, LoraResult(
        steps=len(rows), pairs=len(pairs), reply_tokens=sum(sum(1 for t in y if t != -100) for _, y, _ in encoded),
        truncated=sum(t for *_, t in encoded), loss_first=rows.loss_first(), loss_last=rows.loss_last(),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad), seconds=seconds,
        history=rows)


def result_facts(result: LoraResult) -> dict[str, Any]:
    """A run's facts for ``training.json`` and the stage metrics: every :class:`LoraResult` field but the wall
    clock (timing goes to ``metrics/timing/``, so reruns keep the metrics byte-identical), losses rounded."""
    facts = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name not in ("seconds", "history")}
    return facts | {"loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4)}


def load_adapted(base_model: Path | str, adapter: Path | str, dtype: str = "float32") -> torch.nn.Module:
    """The base causal LM with a saved adapter merged in (for scoring; the generation backend merges its own)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not Path(adapter, "adapter_config.json").is_file():
        raise LoraTrainingError(f"{adapter}: no adapter_config.json; expected a directory written by save_adapter")
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype, local_files_only=True)
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()


def save_adapter(model: torch.nn.Module, out_dir: Path | str, meta: Mapping[str, Any],
                 card: AdapterCard | None = None) -> None:
    """The peft adapter (``adapter_config.json``, ``adapter_model.safetensors``, the model card ``README.md``) +
    ``training.json`` (meta). The card peft writes is filled from ``card`` (:func:`write_adapter_card`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    normalize_adapter_config(out / "adapter_config.json")
    (out / "training.json").write_text(json.dumps(dict(meta), sort_keys=True, indent=2) + "\n", encoding="utf-8")
    if card is not None:
        write_adapter_card(out / "README.md", card, meta)


@dataclasses.dataclass(frozen=True)
class AdapterCard:
    """What an adapter's model card states: where it came from. Figures come from the run's facts only."""

    title: str  # e.g. "kg_notes note generator LoRA"
    stage: str  # the stage that trained it
    base_model: str  # as params name it
    data: str  # one sentence: the training pairs
    params: Mapping[str, Any]  # the training settings (LoraTrainConfig as a dict, per phase where there are two)


def write_adapter_card(path: Path, card: AdapterCard, facts: Mapping[str, Any]) -> None:
    """Rewrite peft's ``README.md`` with huggingface_hub's ``ModelCard``: peft's metadata (library, tags) kept,
    ``base_model`` set, the body saying what was trained on what with which settings, and the run's facts."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCard.load(path).data.to_dict() if path.is_file() else {}
    data |= {"base_model": card.base_model, "library_name": "peft",
             "tags": sorted({*data.get("tags", []), "lora", "clinsynth", card.stage})}

    def table(rows: Mapping[str, Any]) -> str:
        return "\n".join(["| key | value |", "| --- | --- |",
                          *(f"| {k} | {json.dumps(v, sort_keys=True)} |" for k, v in sorted(rows.items()))])

    body = (f"# {card.title}\n\nA LoRA adapter of `{card.base_model}` trained by the clinsynth stage `{card.stage}` "
            f"(peft; load with `peft.PeftModel.from_pretrained(base, path)`).\n\n## Training data\n\n{card.data}\n\n"
            f"## Training settings\n\n{table(card.params)}\n\n## Training facts\n\nAs written to `training.json` "
            f"by this run (loss = mean next-token loss on the reply tokens).\n\n{table(facts)}\n")
    ModelCard(f"---\n{ModelCardData(**data).to_yaml()}\n---\n\n{body}").save(path)


def normalize_adapter_config(path: Path) -> None:
    """Sort ``target_modules`` in peft's ``adapter_config.json``: peft keeps them as a set, so their saved order
    follows the process's string hash seed and two identical trainings wrote different files (a DVC output
    change with the same weights). Written as peft writes it (indent 2, sorted keys)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def qlora_unavailable() -> list[str]:
    """Why QLoRA cannot run here ([] when it can): bitsandbytes not installed, no CUDA device."""
    import importlib.util

    problems = []
    if importlib.util.find_spec("bitsandbytes") is None:
        problems.append("bitsandbytes is not installed")
    if not torch.cuda.is_available():
        problems.append("no CUDA device")
    return problems


def qlora_factory(model_dir: Path | str) -> Callable[[], torch.nn.Module]:
    """QLoRA's base: the causal LM quantized to 4-bit NF4 by bitsandbytes (bf16 compute), prepared for k-bit
    training. Raises :class:`LoraTrainingError` at once (not at the first step) when bitsandbytes or CUDA is missing."""
    problems = qlora_unavailable()
    if problems:
        raise LoraTrainingError(f"qlora: true needs bitsandbytes and a CUDA device; here: {', '.join(problems)}. "
                                "Set qlora: false (plain LoRA, float32 weights, optional bf16 autocast) or install "
                                "bitsandbytes on a CUDA machine")

    def factory() -> torch.nn.Module:
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), quantization_config=quant, device_map={"": 0},
                                                     local_files_only=True)
        return prepare_model_for_kbit_training(model)
    return factory
