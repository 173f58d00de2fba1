"""NER as token classification: BIO tags over wordpieces, aligned to BRAT character spans by offsets.

Documents are cut into *windows*: consecutive sentences packed up to ``window_chars`` characters (a
longer sentence is cut at whitespace outside any entity), so a window is one short encoder input.
Each wordpiece gets ``B-<label>`` when it is the first piece overlapping an entity, ``I-<label>`` for the
following pieces of that entity, ``O`` otherwise; special tokens are ignored in the loss (-100).
Predicted tags become spans again through the tokenizer's ``offset_mapping``: an entity starts at a
``B-X`` (or an ``I-X`` not following its label) and runs to the end of its last ``I-X`` piece.

The model comes from a ``model_factory(labels)`` (tests build a tiny ``BertConfig`` model offline; the
pipeline loads the packaged MiniLM with a fresh head). Training is deterministic for a given seed, thread
count and data (see :func:`clinsynth.training.cross_encoder.set_determinism`). The BIO label list is
``O`` then ``B-``/``I-`` of the sorted entity labels, saved beside the model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from clinsynth.brat import AnnLayout, Document, Entity
from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.params import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from clinsynth.training.cross_encoder import freeze_lower_layers, set_determinism
from clinsynth.training.history import Checkpointer, History, fingerprint, history_from_log, state_digest

Span = tuple[int, int]
IGNORE = -100


@dataclasses.dataclass(frozen=True)
class NerConfig:
    window_chars: PositiveInt = 400  # sentences packed into windows of at most this many characters
    max_length: PositiveInt = 160  # wordpieces per window, [CLS]/[SEP] included; longer windows are truncated
    batch_size: PositiveInt = 16
    max_steps: PositiveInt = 60  # the same for baseline and augmented: equal compute, the data differs
    learning_rate: PositiveFloat = 2e-4
    warmup_ratio: Fraction = 0.1
    weight_decay: NonNegativeFloat = 0.01
    freeze_embeddings: bool = True  # the 30k x 384 word embeddings: half the parameters, a dense grad per step
    freeze_layers: NonNegativeInt = 0  # also freeze the embeddings and the lowest N encoder layers (0: none)
    bf16: bool = False  # bfloat16 autocast: faster inference, but slower backward on CPU (measured)
    threads: PositiveInt = 1  # fixed: results are reproducible for a given thread count
    eval_batch_size: PositiveInt = 32


@dataclasses.dataclass(frozen=True)
class TrainResult:
    steps: int
    examples_seen: int
    loss_first: float  # mean loss of the first 10% of steps
    loss_last: float  # mean loss of the last 10% of steps
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: what the run costs on an idle machine
    history: History = dataclasses.field(default_factory=History)  # per-step loss and learning rate


def _autocast(enabled: bool):
    return precision.autocast(enabled)


@dataclasses.dataclass(frozen=True)
class Window:
    """``document.text[start:end]`` and its entities as ``(start, end, label)`` relative to ``start``."""

    doc_id: str
    start: int
    end: int
    text: str
    entities: tuple[tuple[int, int, str], ...]


def bio_labels(entity_labels: Sequence[str]) -> tuple[str, ...]:
    return ("O", *(f"{p}-{label}" for label in sorted(set(entity_labels)) for p in ("B", "I")))


def cut_long(start: int, end: int, text: str, limit: int, inside: Callable[[int], bool]) -> list[Span]:
    """Cut ``[start, end)`` into pieces of at most ``limit`` characters at whitespace where ``inside`` is False."""
    pieces = []
    while end - start > limit:
        cut = next((i for i in range(start + limit, start, -1) if text[i].isspace() and not inside(i)), None)
        if cut is None:
            break  # one unbreakable run: left long (truncated at max_length)
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    pieces.append((start, end))
    return pieces


def make_windows(document: Document, sentences: Sequence[Span], window_chars: int) -> list[Window]:
    """Sentences packed greedily into windows of at most ``window_chars`` (an entity is never cut)."""
    spans = [e.spans[0] for e in document.entities]

    def inside(i: int) -> bool:
        return any(s < i < e for s, e in spans)

    units = [p for s, e in sentences for p in cut_long(s, e, document.text, window_chars, inside)]
    groups: list[list[Span]] = []
    for unit in units:
        if groups and unit[1] - groups[-1][0][0] <= window_chars:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    windows = []
    for group in groups:
        start, end = group[0][0], group[-1][1]
        ents = tuple((e.start - start, e.end - start, e.label) for e in document.entities
                     if start <= e.start and e.end <= end and not e.is_discontinuous)
        windows.append(Window(document.id, start, end, document.text[start:end], ents))
    return windows


def tag_offsets(offsets: Sequence[Span], entities: Sequence[tuple[int, int, str]], label2id: dict[str, int]) -> list[int]:
    """BIO tag ids for wordpieces with character ``offsets`` (``(0, 0)``: special token -> -100).

    Entities whose label has no tag in ``label2id`` are outside (``O``): the model learns only its labels."""
    entities = [e for e in entities if f"B-{e[2]}" in label2id]
    tags, previous = [], None
    for s, e in offsets:
        if s == e:
            tags.append(IGNORE)
            continue
        hit = next((k for k, (a, b, _) in enumerate(entities) if s < b and a < e), None)
        if hit is None:
            tags.append(label2id["O"])
        else:
            prefix = "I" if hit == previous else "B"
            tags.append(label2id[f"{prefix}-{entities[hit][2]}"])
        previous = hit
    return tags


def spans_from_tags(offsets: Sequence[Span], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Character spans ``(start, end, label)`` from BIO tag names aligned with ``offsets``."""
    spans: list[list[Any]] = []
    open_label = None
    for (s, e), tag in zip(offsets, tags):
        if s == e:
            continue
        prefix, _, label = tag.partition("-")
        if prefix == "O":
            open_label = None
        elif prefix == "I" and open_label == label:
            spans[-1][1] = e
        else:
            spans.append([s, e, label])
            open_label = label
    return [(s, e, label) for s, e, label in spans]


def encode_windows(tokenizer, windows: Sequence[Window], labels: Sequence[str], max_length: int) -> list[dict[str, list[int]]]:
    """Tokenize each window once: ``input_ids``, ``attention_mask``, ``labels`` (BIO ids), ``offsets``."""
    label2id = {label: i for i, label in enumerate(labels)}
    enc = tokenizer([w.text for w in windows], truncation=True, max_length=max_length, return_offsets_mapping=True)
    return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
             "labels": tag_offsets(enc["offset_mapping"][i], w.entities, label2id),
             "offsets": [tuple(o) for o in enc["offset_mapping"][i]]}
            for i, w in enumerate(windows)]


def collate(features: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest window: each tensor ``[B, T]``."""
    width = max(len(f["input_ids"]) for f in features)

    def pad(key: str, value: int) -> torch.Tensor:
        return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in features], dtype=torch.long)

    return {"input_ids": pad("input_ids", pad_id), "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", IGNORE)}


class _StepHistory:
    """Trainer callbacks: one tqdm bar (rate, ETA, kept on screen) and no save after the last step."""

    def __init__(self, progress: bool) -> None:
        self.progress, self.bar = progress, None

    def callback(self):
        from transformers import TrainerCallback

        outer = self

        class StepCallback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="train ner", unit="step",
                                 disable=not outer.progress, leave=True)

            def on_step_end(self, args, state, control, **kwargs):
                outer.bar.update(state.global_step - outer.bar.n)
                if state.global_step >= state.max_steps:
                    control.should_save = False  # the model is returned; a last checkpoint would be deleted unread

            def on_train_end(self, args, state, control, **kwargs):
                outer.bar.close()

        return StepCallback()


def training_arguments(cfg: NerConfig, seed: int, output_dir: str, save_every: int, progress: bool):
    """The Trainer settings of a NER run: AdamW (torch), linear warmup then decay, grad clip 1.0, seeded
    order (``data_seed``: epoch e is shuffled by ``seed + e``, so a resumed run replays it), a log entry
    per step, CPU only, no reporting integrations, checkpoints every ``save_every`` steps (0: none)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
        lr_scheduler_type="linear", weight_decay=cfg.weight_decay, max_grad_norm=1.0, optim="adamw_torch",
        seed=seed, data_seed=seed, bf16=precision.use_bf16(cfg.bf16), use_cpu=True, report_to=[], dataloader_num_workers=0,
        logging_steps=1, logging_strategy="steps", save_strategy="steps" if save_every else "no",
        save_steps=save_every or 500, save_total_limit=1, disable_tqdm=True, remove_unused_columns=False)


def train_ner(model_factory: Callable[[Sequence[str]], torch.nn.Module], tokenizer, windows: Sequence[Window],
              labels: Sequence[str], cfg: NerConfig, seed: int, progress: bool = True,
              checkpoint: Checkpointer | None = None, callbacks: Sequence[Any] = ()) -> tuple[torch.nn.Module, TrainResult]:
    """Build ``model_factory(labels)`` after seeding (its new head's init is part of the run) and fine-tune it
    on the windows for ``cfg.max_steps`` steps with a ``transformers.Trainer`` (epochs cycle, seeded order,
    batches padded to their longest window by ``DataCollatorForTokenClassification``); returns (model, result).

    With a ``checkpoint``, the Trainer saves ``checkpoint-N/`` every ``checkpoint.every`` steps into its
    directory and resumes the newest one of the same run (settings, seed, windows, initial model: the
    fingerprint written beside it); the directory is deleted once the training completes. ``callbacks``
    are extra ``TrainerCallback``\\ s (tests slow or stop a run with them)."""
    from transformers import DataCollatorForTokenClassification, PrinterCallback, ProgressCallback, Trainer

    if not windows:
        raise InputError("train_ner: no training windows")
    checkpoint = checkpoint or Checkpointer(None, 0)
    set_determinism(seed, cfg.threads)
    model = model_factory(labels)
    features = encode_windows(tokenizer, windows, labels, cfg.max_length)
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    freeze_lower_layers(model, cfg.freeze_layers)
    resume = None
    if checkpoint.every:
        resume = checkpoint.trainer_resume(
            fingerprint("train_ner", cfg, seed, list(labels), features, state_digest(model)))
    dataset = [{k: f[k] for k in ("input_ids", "attention_mask", "labels")} for f in features]
    with tempfile.TemporaryDirectory(prefix="train_ner_") as scratch:
        output_dir = str(checkpoint.directory) if checkpoint.every else scratch
        steps = _StepHistory(progress)
        trainer = Trainer(model=model, args=training_arguments(cfg, seed, output_dir, checkpoint.every, progress),
                          train_dataset=dataset, data_collator=DataCollatorForTokenClassification(tokenizer),
                          callbacks=[steps.callback(), *callbacks])
        trainer.remove_callback(PrinterCallback)  # it prints every log entry; our bar shows the progress
        trainer.remove_callback(ProgressCallback)
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer.train(resume_from_checkpoint=resume)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    checkpoint.finish()
    history = history_from_log(trainer.state.log_history)
    model = trainer.model.eval()
    return model, TrainResult(steps=len(history), examples_seen=len(history) * cfg.batch_size,
                              loss_first=history.loss_first(), loss_last=history.loss_last(),
                              seconds=seconds, cpu_seconds=cpu_seconds, history=history)


@torch.inference_mode()
def predict_entities(model: torch.nn.Module, tokenizer, documents: Sequence[Document],
                     windows: Sequence[Window], labels: Sequence[str], cfg: NerConfig,
                     progress: bool = True) -> list[Document]:
    """Each document with predicted entities (ids ``T1..`` in text order) and no other annotation."""
    model.eval()
    found: dict[str, list[tuple[int, int, str]]] = {d.id: [] for d in documents}
    for i in tqdm(range(0, len(windows), cfg.eval_batch_size), desc="predict ner", unit="batch", disable=not progress):
        chunk = windows[i:i + cfg.eval_batch_size]
        features = encode_windows(tokenizer, chunk, labels, cfg.max_length)
        inputs = collate(features, tokenizer.pad_token_id)
        inputs.pop("labels")
        with _autocast(cfg.bf16):
            predicted = model(**inputs).logits.float().argmax(-1).tolist()  # [B, T]
        for window, feature, ids in zip(chunk, features, predicted):
            tags = [labels[k] for k in ids[:len(feature["offsets"])]]
            found[window.doc_id] += [(window.start + s, window.start + e, label)
                                     for s, e, label in spans_from_tags(feature["offsets"], tags)]
    return [dataclasses.replace(d, entities=tuple(Entity(f"T{k}", label, ((s, e),), d.text[s:e])
                                                  for k, (s, e, label) in enumerate(sorted(found[d.id]), start=1)),
                                relations=(), events=(), attributes=(), normalizations=(), notes=(),
                                equivalences=(), layout=AnnLayout())
            for d in documents]


def token_classifier_factory(model_dir: Path | str) -> Callable[[Sequence[str]], torch.nn.Module]:
    """A factory loading ``AutoModelForTokenClassification`` from ``model_dir`` with a fresh head, offline."""
    def factory(labels: Sequence[str]) -> torch.nn.Module:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(
            str(model_dir), num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, local_files_only=True)
    return factory


def model_card(labels: Sequence[str], facts: dict[str, Any], base_model: str | None, corpus: str,
               augmented_corpus: str | None = None):
    """A ``huggingface_hub.ModelCard`` for a saved NER folder: metadata (transformers, token-classification,
    ``base_model``), the BIO labels, the training corpus and counts, the NER settings and the training losses
    from ``facts`` (train.json). Test figures are not known at training time: the card points at the
    evaluation's metrics instead of quoting any."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(library_name="transformers", pipeline_tag="token-classification", base_model=base_model,
                         tags=["token-classification", "ner", "clinical", "clinsynth"])
    variant = facts.get("variant", "?")
    settings = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(facts.get("ner", {}).items()))
    augmented = (f"plus the new windows of the synthetic documents in `{augmented_corpus}` "
                 f"({facts.get('augmented_documents', 0)} documents, {facts.get('windows_from_augmented', 0)} new windows)"
                 if augmented_corpus else "only (no synthetic documents)")
    body = f"""# clinsynth NER, {variant}

A BERT-style token classifier tagging {", ".join(sorted({l[2:] for l in labels if l != "O"}))} (BIO tags over
wordpieces: {", ".join(f"`{l}`" for l in labels)}), fine-tuned from `{base_model or "a local encoder"}` by the
clinsynth stage `train_ner@{variant}` with a `transformers.Trainer` on CPU.

## Training data
The train split of the BRAT corpus `{corpus}` ({facts.get("documents", "?")} documents) {augmented};
{facts.get("windows", "?")} windows in all (consecutive sentences up to `window_chars` characters).

## Training
| setting | value |
| --- | --- |
{settings}

{facts.get("steps", "?")} optimizer steps (AdamW, linear warmup and decay, gradient clipping at 1.0, seeded order);
mean training loss {facts.get("loss_first", "?")} over the first 10% of steps, {facts.get("loss_last", "?")} over the last 10%.
`ner.json` beside the weights holds the labels and these facts.

## Evaluation
Scored on the corpus' held-out test split by the stage `evaluate_brat_augment`: strict and lenient
precision / recall / F1 in `metrics/brat_augment.json` (`ner.{variant}`), the token confusion in
`metrics/plots/confusion_ner_{variant}.json`. No figures are quoted here: they are computed after this card.

## Use
```python
from transformers import AutoModelForTokenClassification, AutoTokenizer
model = AutoModelForTokenClassification.from_pretrained("<this folder>")
tokenizer = AutoTokenizer.from_pretrained("<this folder>")
```
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def save_ner(model, tokenizer, out_dir: Path | str, labels: Sequence[str], meta: dict[str, Any], card: Any = None) -> None:
    """Model + tokenizer (Hugging Face format) + ``ner.json`` (BIO labels, settings, training facts), and
    ``README.md`` when a ``card`` (:func:`model_card`) is given."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"labels": list(labels), **meta}
    (out / "ner.json").write_text(json.dumps(info, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    if card is not None:
        card.save(out / "README.md")


def load_ner(model_dir: Path | str):
    """(model, tokenizer, meta) saved by :func:`save_ner`."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "ner.json").read_text(encoding="utf-8"))
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return model.eval(), tokenizer, meta


def add_new_windows(base: Sequence[Window], extra: Sequence[Window]) -> tuple[list[Window], int]:
    """``base`` plus the windows of ``extra`` whose (text, entities) is not already there (an augmented
    document repeats its source outside the rewritten segment); returns (windows, number added)."""
    seen = {(w.text, w.entities) for w in base}
    added = []
    for w in extra:
        if (w.text, w.entities) not in seen:
            seen.add((w.text, w.entities))
            added.append(w)
    return [*base, *added], len(added)
