"""Corpora for the rephrase recipe's pretraining comparison, and the equal-token-budget sampler.

A *corpus name* says what the corpus is made of: sources joined by ``+``.
  ``real``                        train-split chunk texts of ``data/interim/chunks.jsonl``
  ``<template>``                  kept rephrase records of that prompt template (e.g. ``rephrase.general.v1``);
                                  valid only while a single generator model produced that template
  ``<model>__<template>``         the same, for one generator (``model`` is the record's ``model`` up to ``@``)
  ``real+<template>``             a mix: every source gets an equal share of the token budget
  ``none``                        no training data: the untrained baselines
Each (model, template) pair is therefore its own corpus.

Corpus files (``<out_dir>/<corpus>.jsonl``) hold ``{"id", "source", "text"}`` sorted by (source, id);
they are rewritten only when their content changes and the files of corpora no longer listed are
removed, so DVC reruns only the trainings whose corpus file changed (editing one prompt template
touches only the corpora that use it).

The sampler (:func:`sample_token_budget`) turns tokenized documents into exactly ``budget`` training
tokens, the same number for every corpus: documents are shuffled (seeded per source), each followed by
a separator token, and concatenated; the last document is cut so the count is exact. A source smaller
than its share is either repeated in freshly shuffled epochs (``on_small="repeat"``; the epochs used
are reported) or refused (``on_small="fail"``).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clinsynth.errors import InputError
from clinsynth.records import SyntheticRecord, dumps, read_records

if TYPE_CHECKING:  # torch is imported only where models are trained
    from clinsynth.training.lm import DecoderRun, EncoderRun, MaskedVocab

REAL = "real"
NONE = "none"
MODEL_SEPARATOR = "__"
CORPUS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class CorpusError(InputError):
    """A corpus name, a rephrase record or a source cannot be resolved; the message says how to fix it."""


class BudgetError(InputError):
    """A source cannot supply its share of the token budget under ``on_small='fail'``."""


@dataclasses.dataclass(frozen=True)
class CorpusText:
    id: str
    source: str  # "real" or "<model>__<template>"
    text: str


@dataclasses.dataclass(frozen=True)
class SourceBudget:
    source: str
    documents: int
    tokens_available: int  # tokens of one pass, separators included
    tokens_taken: int
    epochs: float  # tokens_taken / tokens_available (> 1: repeated)


@dataclasses.dataclass(frozen=True)
class BudgetSample:
    tokens: list[int]
    sources: tuple[SourceBudget, ...]


def model_name(model: str) -> str:
    """``smollm2-135m-instruct@0123abcd`` -> ``smollm2-135m-instruct`` (the identity without its hash)."""
    return model.split("@", 1)[0]


def synthetic_source(model: str, template: str) -> str:
    return f"{model_name(model)}{MODEL_SEPARATOR}{template}"


def parse_corpus_name(name: str) -> tuple[str, ...]:
    """The source tokens of a corpus name (``real+rephrase.general.v1`` -> ``("real", "rephrase.general.v1")``)."""
    if not CORPUS_NAME.match(name):
        raise CorpusError(f"corpus name {name!r}: expected letters, digits and . _ + - (sources joined by '+')")
    if name == NONE:
        return ()
    sources = tuple(name.split("+"))
    if len(set(sources)) != len(sources) or NONE in sources:
        raise CorpusError(f"corpus name {name!r}: repeated source or 'none' inside a mix; expected distinct sources")
    return sources


def read_rephrase_records(path: Path | str) -> list[SyntheticRecord]:
    """The gated rephrase corpus (postprocess@rephrase's records.jsonl), validated (errors name ``file:line``)."""
    return read_records(path, SyntheticRecord)


def group_synthetic(records: Iterable[SyntheticRecord]) -> dict[str, list[CorpusText]]:
    """Records grouped by ``<model>__<template>``, each group sorted by id."""
    groups: dict[str, list[CorpusText]] = {}
    for r in records:
        source = synthetic_source(r.model, r.template)
        groups.setdefault(source, []).append(CorpusText(r.id, source, r.text))
    return {k: sorted(v, key=lambda t: t.id) for k, v in sorted(groups.items())}


def real_texts(chunks: Iterable[Mapping[str, Any]], split: str = "train") -> list[CorpusText]:
    return sorted((CorpusText(c["id"], REAL, c["text"]) for c in chunks if c["split"] == split), key=lambda t: t.id)


def resolve_source(token: str, synthetic: Mapping[str, Sequence[CorpusText]]) -> str:
    """Map a source token of a corpus name to a key of ``synthetic`` (or ``real``)."""
    if token == REAL or token in synthetic:
        return token
    matches = [k for k in synthetic if k.split(MODEL_SEPARATOR, 1)[1] == token]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CorpusError(f"source {token!r} was produced by several models ({', '.join(matches)}); "
                          f"name one of them in the corpus name")
    raise CorpusError(f"source {token!r}: no kept rephrase record has this template; "
                      f"available: {', '.join(['real', *synthetic]) or 'none'}")


def build_corpora(names: Sequence[str], chunks: Sequence[Mapping[str, Any]],
                  records: Sequence[SyntheticRecord]) -> dict[str, list[CorpusText]]:
    """Every named corpus as its texts, sorted by (source, id)."""
    if len(set(names)) != len(names):
        raise CorpusError(f"corpora: duplicate name in {list(names)}")
    synthetic = group_synthetic(records)
    pools = {REAL: real_texts(chunks), **synthetic}
    corpora = {}
    for name in names:
        sources = [resolve_source(t, synthetic) for t in parse_corpus_name(name)]
        corpora[name] = [text for source in sorted(sources) for text in pools[source]]
    return corpora


def write_if_changed(path: Path, lines: Sequence[str]) -> bool:
    """Write ``lines`` (one per line) unless the file already holds exactly that; True when written."""
    content = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
    return True


def write_corpora(out_dir: Path | str, corpora: Mapping[str, Sequence[CorpusText]]) -> dict[str, bool]:
    """One ``<corpus>.jsonl`` per corpus (written only on change); stale ``*.jsonl`` removed. Returns name -> written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out_dir.glob("*.jsonl")):
        if stale.stem not in corpora:
            stale.unlink()
    return {name: write_if_changed(out_dir / f"{name}.jsonl", [dumps(t) for t in texts])
            for name, texts in corpora.items()}


def read_corpus(path: Path | str) -> list[CorpusText]:
    with Path(path).open(encoding="utf-8") as fh:
        return [CorpusText(**json.loads(line)) for line in fh if line.strip()]


def budget_shares(sources: Sequence[str], budget: int) -> dict[str, int]:
    """Equal shares of ``budget`` over sorted sources; the remainder goes one token each to the first ones."""
    ordered = sorted(sources)
    base, extra = divmod(budget, len(ordered))
    return {s: base + (1 if i < extra else 0) for i, s in enumerate(ordered)}


def take_tokens(docs: Sequence[Sequence[int]], share: int, rng: random.Random, sep_id: int,
                on_small: Literal["repeat", "fail"], source: str) -> tuple[list[int], SourceBudget]:
    """``share`` tokens from shuffled ``docs`` (each followed by ``sep_id``), in as many epochs as needed."""
    available = sum(len(d) + 1 for d in docs)
    if available == 0:
        raise BudgetError(f"source {source!r}: no documents; expected at least one non-empty text")
    if available < share and on_small == "fail":
        raise BudgetError(f"source {source!r}: {available} tokens < share of {share} tokens; "
                          f"lower token_budget or set on_small: repeat")
    out: list[int] = []
    while len(out) < share:
        order = list(range(len(docs)))
        rng.shuffle(order)  # a fresh order every epoch
        for i in order:
            out.extend(docs[i])
            out.append(sep_id)
            if len(out) >= share:
                break
    del out[share:]
    return out, SourceBudget(source, len(docs), available, share, round(share / available, 4))


def sample_token_budget(docs: Mapping[str, Sequence[Sequence[int]]], budget: int, seed: int, sep_id: int,
                        on_small: Literal["repeat", "fail"] = "repeat") -> BudgetSample:
    """Exactly ``budget`` tokens, shared equally by the sources of ``docs`` (source -> tokenized documents).

    Deterministic given (docs, budget, seed): each source draws from ``random.Random(f"{seed}:{source}")``,
    so a source's sample does not depend on which other sources are in the mix.
    """
    if budget <= 0 or not docs:
        raise BudgetError(f"token budget {budget} over {len(docs)} sources; expected budget > 0 and a source")
    tokens: list[int] = []
    stats = []
    for source, share in budget_shares(list(docs), budget).items():
        taken, stat = take_tokens(docs[source], share, random.Random(f"{seed}:{source}"), sep_id, on_small, source)
        tokens.extend(taken)
        stats.append(stat)
    return BudgetSample(tokens, tuple(stats))


def pack_blocks(tokens: Sequence[int], block_len: int, seed: int | None = None,
                drop_partial: bool = True) -> list[list[int]]:
    """Cut a token stream into blocks of ``block_len`` (shuffled with ``seed`` when given, so mixes interleave)."""
    blocks = [list(tokens[i:i + block_len]) for i in range(0, len(tokens), block_len)]
    if drop_partial and blocks and len(blocks[-1]) < block_len:
        blocks.pop()
    if seed is not None:
        random.Random(seed).shuffle(blocks)
    return blocks


# --- pretraining one corpus and scoring it on held-out real notes ------------------------------------


def tokenize(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []


def eval_blocks(docs: Sequence[Sequence[int]], sep_id: int, block_len: int, max_tokens: int) -> list[list[int]]:
    """Held-out documents in order, each followed by ``sep_id``, cut to ``max_tokens`` (0: all), in full blocks."""
    stream = [t for doc in docs for t in (*doc, sep_id)]
    if max_tokens:
        stream = stream[:max_tokens]
    return pack_blocks(stream, block_len)


def pretrain_decoder(docs: Mapping[str, Sequence[Sequence[int]]], real_docs: Sequence[Sequence[int]],
                     test_docs: Sequence[Sequence[int]], tokenizer: Any, run: DecoderRun,
                     on_small: Literal["repeat", "fail"], checkpoint: Any = None) -> tuple[Any, dict, list]:
    """Train the decoder from scratch on ``run.token_budget`` tokens of ``docs`` (source -> tokenized documents,
    from :func:`group_docs`; empty: no training); score it on ``test_docs``. ``real_docs`` define the vocabulary."""
    from clinsynth.evaluation.perplexity import causal_perplexity
    from clinsynth.training.lm import build_vocab_map, check_blocks, decoder_factory, train_causal_lm

    sep = tokenizer.eos_token_id
    vocab = build_vocab_map(real_docs, [sep], run.vocab, len(tokenizer))
    factory = decoder_factory(run.model, vocab.size)
    metrics: dict[str, Any] = {"vocab_size": vocab.size, "test_oov_rate": round(vocab.oov_rate(
        [t for d in test_docs for t in d]), 4)}
    history: list = []
    if docs:
        sample = sample_token_budget(docs, run.token_budget, run.train.seed, sep, on_small)
        blocks = pack_blocks(vocab.encode(sample.tokens), run.model.seq_len, seed=run.train.seed)
        check_blocks(blocks, run.token_budget, run.model.seq_len)
        model, result = train_causal_lm(factory, blocks, run.train, checkpoint)
        history = result.history
        metrics.update(train_tokens=result.tokens, steps=result.steps, corpus_oov_rate=round(
            vocab.oov_rate(sample.tokens), 4), sources=[dataclasses.asdict(s) for s in sample.sources])
    else:
        import torch

        torch.manual_seed(run.train.seed)
        model = factory()
    test = eval_blocks([vocab.encode(d) for d in test_docs], vocab.encode([sep])[0], run.model.seq_len,
                       run.eval_max_tokens)
    result_score = causal_perplexity(model, test)
    metrics.update(test_tokens=result_score.tokens, test_mean_nll=round(result_score.mean_nll, 4),
                   perplexity=round(result_score.perplexity, 4))
    return (model, vocab), metrics, history


def pretrain_encoder(docs: Mapping[str, Sequence[Sequence[int]]], test_docs: Sequence[Sequence[int]], tokenizer: Any,
                     vocab: MaskedVocab, model_factory: Any, run: EncoderRun,
                     on_small: Literal["repeat", "fail"], checkpoint: Any = None) -> tuple[Any, dict, list]:
    """MLM-train ``model_factory()`` on ``run.token_budget`` tokens of ``docs`` (``tokenizer``'s ids, mapped by
    ``vocab``); score the MLM loss at seeded [MASK] positions of ``test_docs``. Empty ``docs``: score untrained."""
    from clinsynth.evaluation.perplexity import masked_lm_score
    from clinsynth.training.lm import check_blocks, train_masked_lm

    raw_sep = tokenizer.eos_token_id if vocab.vocab_map is not None else tokenizer.sep_token_id
    metrics: dict[str, Any] = {"vocab_size": vocab.size}
    history: list = []
    if docs:
        sample = sample_token_budget(docs, run.token_budget, run.train.seed, raw_sep, on_small)
        blocks = pack_blocks(vocab.encode(sample.tokens), run.seq_len, seed=run.train.seed)
        check_blocks(blocks, run.token_budget, run.seq_len)
        model, result = train_masked_lm(model_factory, blocks, run.train, run.masking, vocab, checkpoint)
        history = result.history
        metrics.update(train_tokens=result.tokens, steps=result.steps,
                       sources=[dataclasses.asdict(s) for s in sample.sources])
    else:
        import torch

        torch.manual_seed(run.train.seed)
        model = model_factory()
    test = eval_blocks([vocab.encode(d) for d in test_docs], vocab.sep_id, run.seq_len,
                       run.eval_max_tokens)
    mlm = masked_lm_score(model, test, vocab, run.masking)
    metrics.update(test_masked_tokens=mlm.tokens, mlm_loss=round(mlm.mean_nll, 4),
                   mlm_perplexity=round(mlm.perplexity, 4))
    return model, metrics, history


def group_docs(corpus: Sequence[CorpusText], tokenizer: Any,
               pretokenized: Mapping[str, list[int]] | None = None) -> dict[str, list[list[int]]]:
    """Tokenized documents per source, in corpus order; ``real`` texts are taken from ``pretokenized``
    (chunk id -> ids) when there, so the real notes are tokenized once per stage."""
    known = pretokenized or {}
    missing = [t.text for t in corpus if not (t.source == REAL and t.id in known)]
    fresh = iter(tokenize(tokenizer, missing))
    by_source: dict[str, list[list[int]]] = {}
    for t in corpus:
        ids = known[t.id] if t.source == REAL and t.id in known else next(fresh)
        by_source.setdefault(t.source, []).append(ids)
    return dict(sorted(by_source.items()))


@dataclasses.dataclass(frozen=True)
class SplitRephraseCorporaConfig:
    records: str  # postprocess@rephrase's gated corpus (records.jsonl)
    out_dir: str
    corpora: list[str]  # corpus names: real | <template> | <model>__<template> | real+<template> | none


def corpora_metrics(records: Sequence[SyntheticRecord], corpora: Mapping[str, Sequence[CorpusText]]) -> dict[str, Any]:
    """Kept records, the synthetic sources no corpus uses, and each corpus' texts, characters and texts by source."""
    unused = sorted(set(group_synthetic(records)) - {t.source for texts in corpora.values() for t in texts})
    return {"records": len(records), "unused_sources": unused,
            "corpora": {name: {"texts": len(texts), "chars": sum(len(t.text) for t in texts),
                               "by_source": dict(sorted(Counter(t.source for t in texts).items()))}
                        for name, texts in corpora.items()}}
