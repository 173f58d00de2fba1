"""ICD-10 note classification (multi-label): real train notes vs real + synthetic, scored on real test notes.

Two classifiers, both deterministic for a given seed and thread count:

* ``minilm``: a frozen sentence encoder (MiniLM; mean pooling over tokens, L2-normalised, ``[N, H]``)
  and a linear head ``[H, C]`` trained with binary cross-entropy (full batch, AdamW). The encoder comes
  from a ``model_factory`` returning ``(tokenizer, model)`` so tests build a tiny BERT offline; notes are
  embedded once and the embeddings shared by the baseline and the augmented head.

  The head keeps a hand-written loop rather than ``transformers.Trainer``: a step is one ``[N, H] x [H, C]``
  matmul over the whole in-memory training set, so there is no data loading, batching, device placement,
  mixed precision or evaluation schedule for a Trainer to take over, only overhead (a dataset of the
  embeddings, a collator, a dataloader per epoch). Measured by ``bench/icd_head_loop.py`` (N=600, H=384,
  C=20, 300 steps, one thread, 2 shared cores under load): hand loop 98 steps/s, the same steps through
  Trainer 36 steps/s (2.7x slower). The loop records the :class:`~clinsynth.training.history.History`
  (``{step, loss, learning_rate}`` per step, before the update) and resumes from a
  :class:`~clinsynth.training.history.Checkpointer` like the other hand loops.
* ``tfidf``: word 1-2-gram TF-IDF and one-vs-rest logistic regression (liblinear): the cheap baseline.

Label space: the sorted codes of the training notes (real, or real + synthetic), so an augmented model
can predict a code no real train note has; a test code outside the label space is never predicted.

Masking (``mask_patterns``): Synthea notes name their conditions verbatim (Chief Complaint list, "Patient
has a history of ...", "Patient is presenting with ..."), which makes the task a string lookup. With
masking, each regular expression's matches are deleted from every note, real and synthetic, before
training and scoring, so the classifier must infer codes from medications, vitals, procedures and prose.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.evaluation.icd import evaluate, rare_codes
from clinsynth.params import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from clinsynth.training import precision
from clinsynth.training.history import Checkpointer, History, current_lr, fingerprint, state_digest

log = logging.getLogger(__name__)
EncoderFactory = Callable[[], tuple[Any, torch.nn.Module]]


@dataclasses.dataclass(frozen=True)
class Example:
    id: str
    text: str
    codes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    steps: PositiveInt = 300  # full-batch AdamW steps
    learning_rate: PositiveFloat = 0.05
    weight_decay: NonNegativeFloat = 0.0001
    threshold: Fraction = 0.5  # a code is predicted at sigmoid >= threshold (the top-1 code always is)


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    max_length: PositiveInt = 256
    batch_size: PositiveInt = 32
    threads: PositiveInt = 2
    bf16: bool = False  # bfloat16 autocast (this CPU has native bf16: ~2.4x faster)


@dataclasses.dataclass(frozen=True)
class TfidfConfig:
    max_features: PositiveInt = 20000
    c: PositiveFloat = 10.0  # inverse regularisation of each logistic regression
    threshold: Fraction = 0.5


@dataclasses.dataclass(frozen=True)
class TrainIcdConfig:
    """params.yaml ``train_icd`` (embed_kg_notes reads the same section: encoder, masking, encoding)."""

    encoder: str  # pkg:<package>/<dir> or a local HF directory
    embeddings: str  # embed_kg_notes output (.npz)
    corpora_dir: str  # kg_notes_corpora output
    out_dir: str  # metrics/kg_notes: one file per variant
    models: list[Literal["tfidf", "minilm"]]
    mask: bool
    mask_patterns: list[str]
    rare_max_train_notes: NonNegativeInt  # a test code with at most this many real train notes is rare (0 included)
    ks: list[PositiveInt]
    encoding: EncoderConfig
    head: HeadConfig
    tfidf: TfidfConfig
    confusion_model: Literal["tfidf", "minilm"] = "minilm"  # whose top-1 codes metrics/plots/confusion_icd_* hold
    checkpoint_every: NonNegativeInt = 0  # head steps between resumable checkpoints (0: none)

    def __post_init__(self) -> None:
        if self.confusion_model not in self.models:
            raise InputError(f"params.yaml train_icd.confusion_model: {self.confusion_model!r} is not in "
                             f"train_icd.models {self.models}; expected one of them (fix: set it to one of them)")


@dataclasses.dataclass(frozen=True)
class Scores:
    labels: tuple[str, ...]  # the label space, sorted
    scores: np.ndarray  # [N, C] probabilities
    threshold: Fraction

    def rankings(self) -> list[list[str]]:
        """Codes by descending score; ties broken by code order (a stable sort on the sorted labels)."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        return [[self.labels[j] for j in row] for row in order]

    def predicted(self) -> list[set[str]]:
        """Codes at or above the threshold, plus each note's top-ranked code."""
        out = []
        for row, ranking in zip(self.scores, self.rankings()):
            chosen = {self.labels[j] for j in np.flatnonzero(row >= self.threshold)}
            out.append(chosen | ({ranking[0]} if ranking else set()))
        return out


def mask_text(text: str, patterns: Sequence[str]) -> str:
    """``text`` with every match of each pattern (multiline regexes) deleted."""
    for pattern in patterns:
        text = re.sub(pattern, "", text, flags=re.MULTILINE)
    return text


def label_space(examples: Sequence[Example]) -> tuple[str, ...]:
    return tuple(sorted({c for e in examples for c in e.codes}))


def targets(examples: Sequence[Example], labels: Sequence[str]) -> np.ndarray:
    """Multi-hot ``[N, C]`` float32 (codes outside ``labels`` ignored)."""
    index = {c: j for j, c in enumerate(labels)}
    y = np.zeros((len(examples), len(labels)), dtype=np.float32)
    for i, e in enumerate(examples):
        for c in e.codes:
            if c in index:
                y[i, index[c]] = 1.0
    return y


# ---- MiniLM embeddings + linear head -------------------------------------------------------------
@torch.inference_mode()
def embed_texts(tokenizer: Any, model: torch.nn.Module, texts: Sequence[str], cfg: EncoderConfig,
                progress: bool = True) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states: ``[N, H]`` float32, in input order."""
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    model.eval()
    parts = []
    for i in tqdm(range(0, len(texts), cfg.batch_size), desc="embed notes", unit="batch", leave=True,
                  disable=not progress):
        batch = tokenizer(list(texts[i:i + cfg.batch_size]), truncation=True, max_length=cfg.max_length,
                          padding=True, return_tensors="pt")
        with precision.autocast(cfg.bf16):
            hidden = model(**batch).last_hidden_state.float()  # [B, T, H]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # [B, H]
        parts.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class Head:
    weight: np.ndarray  # [H, C]
    bias: np.ndarray  # [C]
    history: History  # one row per step: {step, loss, learning_rate}


def array_digest(*arrays: np.ndarray) -> str:
    """sha256 over the arrays' dtypes, shapes and bytes (the data part of a checkpoint's fingerprint)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def train_head(x: np.ndarray, y: np.ndarray, cfg: HeadConfig, seed: int, checkpoint: Checkpointer | None = None,
               desc: str = "icd head", progress: bool = True) -> Head:
    """A linear multi-label head on fixed features ``x`` ``[N, H]``, targets ``y`` ``[N, C]`` (BCE, full batch AdamW).

    With a ``checkpoint``, a saved state of the same run (settings, seed, features, targets, initial head) is
    resumed and the state saved every ``checkpoint.every`` steps; it is deleted once the training completes."""
    checkpoint = checkpoint or Checkpointer(None, 0)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    head = torch.nn.Linear(x.shape[1], y.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    history, first = History(), 0
    if checkpoint.every:
        key = fingerprint("train_icd_head", cfg, seed, array_digest(x, y), state_digest(head))
        resumed = checkpoint.resume(key, head, optimizer)
        if resumed is not None:
            history, first = resumed.history, resumed.step
    for step in tqdm(range(first, cfg.steps), desc=desc, unit="step", initial=first, total=cfg.steps, leave=True,
                     disable=not progress):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features), labels)
        loss.backward()
        lr = current_lr(optimizer)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        history.record(step + 1, loss.item(), lr)
        checkpoint.step(step + 1, cfg.steps, head, optimizer, None, [], history)
    checkpoint.finish()
    return Head(head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy(), history)


def head_scores(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ weight + bias)))


def fit_minilm(train_x: np.ndarray, train: Sequence[Example], test_x: np.ndarray, cfg: HeadConfig,
               seed: int, checkpoint: Checkpointer | None = None, desc: str = "icd head",
               progress: bool = True) -> tuple[Scores, History]:
    labels = label_space(train)
    head = train_head(train_x, targets(train, labels), cfg, seed, checkpoint, desc, progress)
    return Scores(labels, head_scores(test_x, head.weight, head.bias), cfg.threshold), head.history


# ---- TF-IDF + one-vs-rest logistic regression ------------------------------------------------------
def fit_tfidf(train: Sequence[Example], test_texts: Sequence[str], cfg: TfidfConfig, seed: int) -> Scores:
    """TF-IDF (word 1-2-grams, sublinear tf) + one logistic regression per code (liblinear: deterministic).
    A code present in every training note gets score 1 (no negative to learn from)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = label_space(train)
    y = targets(train, labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=cfg.max_features)
    x_train = vectorizer.fit_transform([e.text for e in train])
    x_test = vectorizer.transform(list(test_texts))
    scores = np.zeros((len(test_texts), len(labels)), dtype=np.float64)
    for j in range(len(labels)):
        if y[:, j].min() == y[:, j].max():
            scores[:, j] = y[0, j]
            continue
        clf = LogisticRegression(C=cfg.c, solver="liblinear", random_state=seed)
        clf.fit(x_train, y[:, j])
        scores[:, j] = clf.predict_proba(x_test)[:, 1]
    return Scores(labels, scores, cfg.threshold)


def encoder_factory(model_dir: str) -> EncoderFactory:
    """``(tokenizer, AutoModel)`` from a local Hugging Face directory, offline."""
    def factory() -> tuple[Any, torch.nn.Module]:
        from transformers import AutoModel, AutoTokenizer

        return (AutoTokenizer.from_pretrained(model_dir, local_files_only=True),
                AutoModel.from_pretrained(model_dir, local_files_only=True))
    return factory


# ---- examples from records ------------------------------------------------------------------------
def real_examples(notes: Sequence[dict[str, Any]], split: str, patterns: Sequence[str]) -> list[Example]:
    """Labelled notes of ``split`` (``meta.icd10`` non-empty), masked, sorted by id."""
    chosen = sorted((n for n in notes if n["split"] == split and n["meta"].get("icd10")), key=lambda n: n["id"])
    return [Example(n["id"], mask_text(n["text"], patterns), tuple(sorted(set(n["meta"]["icd10"])))) for n in chosen]


def synthetic_examples(records: Sequence[dict[str, Any]], patterns: Sequence[str]) -> list[Example]:
    """kg_notes corpus records (``id, code, text``) as single-code examples, masked like the real notes."""
    return [Example(r["id"], mask_text(r["text"], patterns), (r["code"],)) for r in sorted(records, key=lambda r: r["id"])]


# ---- confusion of top-1 codes (dvc plots template ``confusion``) -----------------------------------
NO_CODE = "(none)"  # the top-1 "code" of a model with an empty label space


@dataclasses.dataclass(frozen=True)
class Confusion:
    rows: list[dict[str, str]]  # {"actual", "predicted"}: one per test note with exactly one gold code, test order
    skipped_multi_code: int  # test notes with several gold codes (no single actual code): left out


def confusion_rows(test: Sequence[Example], rankings: Sequence[Sequence[str]]) -> Confusion:
    """Gold code vs top-1 predicted code of each test note that has exactly one gold code."""
    if len(test) != len(rankings):
        raise InputError(f"confusion_rows: {len(test)} test notes but {len(rankings)} rankings; expected one each")
    rows = [{"actual": e.codes[0], "predicted": ranking[0] if ranking else NO_CODE}
            for e, ranking in zip(test, rankings) if len(e.codes) == 1]
    return Confusion(rows, sum(len(e.codes) > 1 for e in test))


# ---- baseline vs augmented (stage train_icd) --------------------------------------------------------
ARMS = ("baseline", "augmented")


@dataclasses.dataclass(frozen=True)
class IcdRun:
    metrics: dict[str, Any]  # counts, rare codes, {arm: {model: {all|rare: metrics}}} (unrounded)
    histories: dict[str, History]  # arm -> the MiniLM head's per-step history (empty without minilm)
    confusions: dict[str, Confusion]  # arm -> top-1 vs gold of ``cfg.confusion_model``


def fit(model: str, train: list[Example], test: list[Example], x_train, x_test, cfg: TrainIcdConfig, seed: int,
        checkpoint: Checkpointer | None = None, desc: str = "icd head") -> tuple[Scores, History]:
    if model == "tfidf":  # liblinear: a solver run per code, no optimizer steps to record
        return fit_tfidf(train, [e.text for e in test], cfg.tfidf, seed), History()
    return fit_minilm(x_train, train, x_test, cfg.head, seed, checkpoint, desc)


def train_and_score(train: list[Example], test: list[Example], synthetic: list[Example],
                    embeddings: Mapping[str, np.ndarray], cfg: TrainIcdConfig, seed: int,
                    encoder: EncoderFactory,
                    checkpoints: Callable[[str], Checkpointer] | None = None) -> IcdRun:
    """Each of ``cfg.models`` trained on ``train`` (baseline) and ``train + synthetic`` (augmented), scored on ``test``.

    ``embeddings``: embed_kg_notes' arrays (``train``, ``test`` ``[N, H]`` and their note ids, which must be
    ``train``'s and ``test``'s); only the synthetic notes are embedded here, with ``encoder()``, when a
    MiniLM model is asked for. ``checkpoints(arm)``: the MiniLM head's checkpointer for that arm.
    """
    if list(embeddings["train_ids"]) != [e.id for e in train] or list(embeddings["test_ids"]) != [e.id for e in test]:
        raise InputError(f"{cfg.embeddings}: note ids differ from the notes' labelled train/test notes; rerun embed_kg_notes")
    x_syn = np.zeros((0, embeddings["train"].shape[1]), dtype=np.float32)
    if "minilm" in cfg.models and synthetic:
        tokenizer, model = encoder()
        x_syn = embed_texts(tokenizer, model, [e.text for e in synthetic], cfg.encoding)
    counts = Counter(c for e in train for c in e.codes)
    gold = [e.codes for e in test]
    rare = rare_codes(counts, gold, cfg.rare_max_train_notes)
    result: dict = {"test_notes": len(test), "train_notes": len(train), "synthetic_notes": len(synthetic),
                    "synthetic_codes": len({c for e in synthetic for c in e.codes}), "rare_codes": sorted(rare)}
    arms = {"baseline": (train, embeddings["train"]),
            "augmented": (train + synthetic, np.concatenate([embeddings["train"], x_syn]))}
    histories, confusions = {}, {}
    for arm, (rows, x) in arms.items():
        histories[arm] = History()
        for model in cfg.models:
            checkpoint = checkpoints(arm) if checkpoints is not None and model == "minilm" else None
            scores, history = fit(model, rows, test, x, embeddings["test"], cfg, seed, checkpoint, f"icd head {arm}")
            ranked, predicted = scores.rankings(), scores.predicted()
            result.setdefault(arm, {})[model] = {"all": evaluate(ranked, predicted, gold, cfg.ks),
                                                 "rare": evaluate(ranked, predicted, gold, cfg.ks, subset=rare)}
            if model == "minilm":
                histories[arm] = history
            if model == cfg.confusion_model:
                confusions[arm] = confusion_rows(test, ranked)
    return IcdRun(result, histories, confusions)
