"""ICD-10 note classification (multi-label): real train notes vs real + synthetic, scored on real test notes.

Two classifiers, both deterministic for a given seed and thread count:

* ``minilm``: a frozen sentence encoder (MiniLM; mean pooling over tokens, L2-normalised, ``[N, H]``)
  and a linear head ``[H, C]`` trained with binary cross-entropy (full batch, AdamW). The encoder comes
  from a ``model_factory`` returning ``(tokenizer, model)`` so tests build a tiny BERT offline; notes are
  embedded once and the embeddings shared by the baseline and the augmented head.
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
    for i in tqdm(range(0, len(texts), cfg.batch_size), desc="embed notes", unit="batch", disable=not progress):
        batch = tokenizer(list(texts[i:i + cfg.batch_size]), truncation=True, max_length=cfg.max_length,
                          padding=True, return_tensors="pt")
        with precision.autocast(cfg.bf16):
            hidden = model(**batch).last_hidden_state.float()  # [B, T, H]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # [B, H]
        parts.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def train_head(x: np.ndarray, y: np.ndarray, cfg: HeadConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A linear multi-label head on fixed features: weight ``[H, C]`` and bias ``[C]`` (BCE, full batch)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    head = torch.nn.Linear(x.shape[1], y.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    for _ in range(cfg.steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy()


def head_scores(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ weight + bias)))


def fit_minilm(train_x: np.ndarray, train: Sequence[Example], test_x: np.ndarray, cfg: HeadConfig,
               seed: int) -> Scores:
    labels = label_space(train)
    weight, bias = train_head(train_x, targets(train, labels), cfg, seed)
    return Scores(labels, head_scores(test_x, weight, bias), cfg.threshold)


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


# ---- baseline vs augmented (stage train_icd) --------------------------------------------------------
def fit(model: str, train: list[Example], test: list[Example], x_train, x_test, cfg: TrainIcdConfig, seed: int):
    if model == "tfidf":
        return fit_tfidf(train, [e.text for e in test], cfg.tfidf, seed)
    return fit_minilm(x_train, train, x_test, cfg.head, seed)


def train_and_score(train: list[Example], test: list[Example], synthetic: list[Example],
                    embeddings: Mapping[str, np.ndarray], cfg: TrainIcdConfig, seed: int,
                    encoder: EncoderFactory) -> dict[str, Any]:
    """Each of ``cfg.models`` trained on ``train`` (baseline) and ``train + synthetic`` (augmented), scored on ``test``.

    ``embeddings``: embed_kg_notes' arrays (``train``, ``test`` ``[N, H]`` and their note ids, which must be
    ``train``'s and ``test``'s); only the synthetic notes are embedded here, with ``encoder()``, when a
    MiniLM model is asked for. Returns counts, the rare codes and ``{arm: {model: {all|rare: metrics}}}``
    (unrounded).
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
    arms = (("baseline", train, embeddings["train"]),
            ("augmented", train + synthetic, np.concatenate([embeddings["train"], x_syn])))
    for arm, rows, x in arms:
        for model in cfg.models:
            scores = fit(model, rows, test, x, embeddings["test"], cfg, seed)
            ranked, predicted = scores.rankings(), scores.predicted()
            result.setdefault(arm, {})[model] = {"all": evaluate(ranked, predicted, gold, cfg.ks),
                                                 "rare": evaluate(ranked, predicted, gold, cfg.ks, subset=rare)}
    return result
