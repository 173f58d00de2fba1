"""LoRA fine-tuning of a causal LM on (chat messages -> reply text) pairs, saved as a standard peft adapter.

Generic: kg_notes tunes the note generator on (codes + symptoms -> real note) pairs; FHIR QA tunes an
answer generator on (question + resources -> answer), and in its sequential mode continues one adapter from
relevance pairs (question + resource -> yes/no) to answer pairs. The base model comes from a ``model_factory`` (tests
build a tiny Llama offline; the pipeline loads the generator directory), so nothing here reads params.

Each pair is rendered with the tokenizer's chat template (``add_generation_prompt=True``) followed by the
reply and the tokenizer's eos token; the loss is on the reply tokens only (prompt tokens are labelled
-100). A pair longer than ``max_length`` keeps its prompt and loses the end of its reply; a prompt that
leaves fewer than ``min_reply_tokens`` for the reply is cut from the left (its start is dropped).
Deterministic for a given seed and thread count (seeded order, ``torch.use_deterministic_algorithms``).

The saved directory (``adapter_config.json`` + ``adapter_model.safetensors``) is what
``generate.transformers.adapter`` and ``peft.PeftModel.from_pretrained`` load.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.params import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range


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


def train_lora(model_factory: Callable[[], torch.nn.Module], tokenizer: Any, pairs: Sequence[Pair],
               cfg: LoraTrainConfig, seed: int, progress: bool = True) -> tuple[torch.nn.Module, LoraResult]:
    """Wrap the factory's model in LoRA and train it for ``cfg.max_steps`` steps; returns the peft model.

    A factory that returns a peft model (an earlier ``train_lora``'s result, or ``PeftModel.from_pretrained(...,
    is_trainable=True)``) continues training ITS adapter: no new adapter is added, so ``cfg.r``, ``alpha``,
    ``dropout`` and ``target_modules`` are not read; the optimizer and schedule start afresh with ``cfg``'s
    steps and learning rate (FHIR QA's sequential mode: relevance, then answers, on one adapter).
    """
    if not pairs:
        raise LoraTrainingError("train_lora: no training pairs")
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    encoded = [encode_pair(tokenizer, p, cfg.max_length, cfg.min_reply_tokens) for p in pairs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = model_factory()
    model = model if is_peft_model(model) else add_lora(model, cfg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = max(1, cfg.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (cfg.max_steps - s) / max(1, cfg.max_steps - warmup))))
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    for _ in tqdm(range(cfg.max_steps), desc="train LoRA", unit="step", disable=not progress):
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(encoded), generator=generator).tolist()
        batch, order = collate([encoded[i][:2] for i in order[:cfg.batch_size]], pad_id), order[cfg.batch_size:]
        with precision.autocast(cfg.bf16):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        # next-token loss on reply tokens only: logits [B, T-1, V] vs labels [B, T-1]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                 batch["labels"][:, 1:].reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    tenth = max(1, len(losses) // 10)
    return model, LoraResult(
        steps=len(losses), pairs=len(pairs), reply_tokens=sum(sum(1 for t in y if t != -100) for _, y, _ in encoded),
        truncated=sum(t for *_, t in encoded), loss_first=sum(losses[:tenth]) / tenth,
        loss_last=sum(losses[-tenth:]) / tenth, trainable_parameters=sum(p.numel() for p in trainable),
        seconds=time.perf_counter() - start)


def result_facts(result: LoraResult) -> dict[str, Any]:
    """A run's facts for ``training.json`` and the stage metrics: every :class:`LoraResult` field but the wall
    clock (timing goes to ``metrics/timing/``, so reruns keep the metrics byte-identical), losses rounded."""
    facts = {k: v for k, v in dataclasses.asdict(result).items() if k != "seconds"}
    return facts | {"loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4)}


def load_adapted(base_model: Path | str, adapter: Path | str, dtype: str = "float32") -> torch.nn.Module:
    """The base causal LM with a saved adapter merged in (for scoring; the generation backend merges its own)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not Path(adapter, "adapter_config.json").is_file():
        raise LoraTrainingError(f"{adapter}: no adapter_config.json; expected a directory written by save_adapter")
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype, local_files_only=True)
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()


def save_adapter(model: torch.nn.Module, out_dir: Path | str, meta: Mapping[str, Any]) -> None:
    """The peft adapter (``adapter_config.json``, ``adapter_model.safetensors``) + ``training.json`` (meta)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    normalize_adapter_config(out / "adapter_config.json")
    (out / "training.json").write_text(json.dumps(dict(meta), sort_keys=True, indent=2) + "\n", encoding="utf-8")


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
