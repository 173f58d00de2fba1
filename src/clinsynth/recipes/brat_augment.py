"""Recipe ``brat_augment``: rewrite marked segments of BRAT train documents, decode them into new documents.

Sampling (``sample@brat_augment``): the train documents of the BRAT corpus at ``base.paths.brat`` are cut
into blocks of consecutive sentences (at most ``segment_chars`` characters, a longer sentence alone);
every block holding an entity of ``labels`` is encoded with :func:`clinsynth.brat.encode_segments` (all
its entities marked ``[[Label: text]]``; ineligible blocks skipped by reason) and a seeded sample of
``max_segments`` is rendered under the templates. Only the train split is ever prompted.

Parsing (``generate@brat_augment``): :func:`parse_completion` rejects a reply that cannot be read as a
rewrite of its segment: ``empty_reply``, ``broken_markup``, ``unknown_label``, ``label_changed``,
``entity_count_changed`` (the reasons of :func:`clinsynth.brat.decode_segment`). A reply that lost marks
is kept here: how many entities a rewrite may lose is the decode stage's policy (``min_entity_recall``).

Decoding (``decode_brat_augment``, :func:`decode_generations`): each kept reply is spliced into its full
source document; rejected (``entity_missing``, ``invalid_document``), unchanged copies and repeats are
dropped and counted; leakage of the rewrite against the train notes is measured with
:class:`clinsynth.quality.leakage.NgramIndex`, and dropped only when a limit is set.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

from clinsynth.brat import (DecodedSegment, DecodeRejection, Document, EncodedSegment, Entity, decode_segment,
                            encode_segments, parse_marks, read_corpus)
from clinsynth.brat.inline import CLOSE, LABEL_SEP, OPEN
from clinsynth.errors import InputError
from clinsynth.generation.types import Contract
from clinsynth.records import Rejection
from clinsynth.params import Fraction, NonNegativeFloat, NonNegativeInt, Paths, PositiveFloat, PositiveInt
from clinsynth.quality.checks import CheckOutcome, RecipeCheck, prompt_source_text
from clinsynth.quality.leakage import tokenize

log = logging.getLogger(__name__)

NAME = "brat_augment"
PARSE_REASONS = ("empty_reply", "broken_markup", "unknown_label", "label_changed", "entity_count_changed")
_FENCE = re.compile(r"^```[a-z]*\n?|\n?```$")
_PREFIX = re.compile(r"^(?:rewrite|rewritten text|rewritten)\s*:\s*", re.IGNORECASE)
Span = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """``params.yaml: sample.brat_augment``."""

    templates: list[str]  # versioned names, e.g. brat_augment.rewrite.v1
    max_segments: NonNegativeInt  # seeded sample of eligible segments; 0 = all
    labels: list[str]  # a block is prompted when it holds an entity with one of these labels
    segment_chars: PositiveInt = 320  # sentences packed into blocks of at most this many characters
    min_entities: NonNegativeInt = 1
    contract: Literal["none", "ordered"] = "none"  # ordered: decode under build_contract (every mark once, in order)
    # Under the contract each free gap is min..max x its source gap's characters (+ GAP_SLACK) and each mark's
    # text at most max x the entity's (+ GAP_SLACK): a rewrite cannot shrink or pad itself out of the length gate.
    contract_min_ratio: NonNegativeFloat = 0.0  # build_contract's defaults when called without a config
    contract_max_ratio: PositiveFloat = 2.0


def pack_sentences(sentences: Sequence[Span], max_chars: int) -> list[Span]:
    """Consecutive sentences greedily packed into ``[start, end)`` blocks of at most ``max_chars`` characters."""
    blocks: list[list[int]] = []
    for start, end in sentences:
        if blocks and end - blocks[-1][0] <= max_chars:
            blocks[-1][1] = end
        else:
            blocks.append([start, end])
    return [(s, e) for s, e in blocks]


def read_sources(paths: Paths) -> list[dict[str, Any]]:
    """Train documents of the corpus at ``paths.brat`` (invalid ones skipped) with their sentence spans."""
    from clinsynth.brat import split_sentences
    from clinsynth.corpus import make_sentencizer

    nlp = make_sentencizer()
    result = read_corpus(Path(paths.brat) / "train", on_invalid="skip")
    if result.skipped:  # -v lists them (clinsynth.brat.corpus)
        log.info("%s/train: skipped %d invalid documents %s", paths.brat, sum(result.skipped.values()), result.skipped)
    documents = result.documents
    return [{"document": d, "sentences": split_sentences(d.text, nlp)} for d in documents]


def eligible_segments(records: Sequence[dict[str, Any]], cfg: SampleConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every encodable block with at least ``min_entities`` marks, and skipped blocks counted by reason."""
    pool, skipped = [], Counter()
    for record in records:
        document: Document = record["document"]
        blocks = pack_sentences([tuple(s) for s in record["sentences"]], cfg.segment_chars)
        result = encode_segments(document, blocks, labels=set(cfg.labels), relation_labels=())
        skipped.update(result.skipped)
        for segment in result.segments:
            if len(segment.entity_ids) < cfg.min_entities:
                skipped["too_few_entities"] += 1
                continue
            pool.append(segment_record(document, segment, cfg.labels))
    return pool, dict(sorted(skipped.items()))


def segment_record(document: Document, segment: EncodedSegment, labels: Collection[str]) -> dict[str, Any]:
    """What a prompt needs to be checked and decoded without the document: the segment and its entities."""
    inside = set(segment.entity_ids)
    entities = [document.entity(i) for i in segment.entity_ids]
    return {"segment": segment.to_dict(),
            "labels": sorted({e.label for e in entities}),
            "allowed_labels": sorted(set(labels) | {e.label for e in entities}),
            "entity_texts": [f"{e.label}: {e.text}" for e in entities],
            "relations": sum(1 for r in document.relations if r.arg1 in inside or r.arg2 in inside)}


def select_sources(records: Sequence[dict[str, Any]], cfg: SampleConfig, seed: int) -> list[dict[str, Any]]:
    import random

    pool, _ = eligible_segments(records, cfg)
    pool.sort(key=lambda r: r["segment"]["segment_id"])
    if cfg.max_segments and len(pool) > cfg.max_segments:
        pool = sorted(random.Random(seed).sample(pool, cfg.max_segments), key=lambda r: r["segment"]["segment_id"])
    return pool


def build_vars(record: dict[str, Any]) -> dict[str, Any]:
    return {"segment": record["segment"]["encoded"], "labels": record["labels"],
            "n_marks": len(record["segment"]["entity_ids"]), "record": record}


def source_ids(record: dict[str, Any]) -> Sequence[str]:
    return (record["segment"]["segment_id"],)


# A mark's entity text: 1-80 characters, no brackets, no newline, no whitespace at either end (inline.py's
# marking policy); between marks, text without any bracket (so no '[[' or ']]' of its own). Neither holds a
# control character other than tab and newline (a random model writes them; a note does not).
CONTROL = r"\x00-\x08\x0b-\x1f\x7f"
GAP_SLACK = 16  # characters a gap or mark text may add beyond max x its source (a short gap may grow a word)
_REGEX_META = re.compile(r"([\\.^$|?*+()\[\]{}\-])")


def free_text(source: str, min_ratio: float = 0.0, max_ratio: float = 2.0) -> str:
    """The regex of the text in place of ``source`` (a gap between marks): from ``min_ratio`` x its length to
    ``max_ratio`` x its length + :data:`GAP_SLACK` characters, ending in whitespace where ``source`` does.

    The bounds keep a rewrite within what the quality gate accepts (``min_length_ratio`` 0.5, ``max_length_ratio``
    2.0) and guarantee that a reply reaches its next mark: without an upper bound a model may write free text
    until ``max_new_tokens``. The whitespace end keeps a mark from starting inside a word when the bound cuts
    the gap short ("presentingacetaminophen" was the 135M model's reply without it).
    """
    low, high = int(min_ratio * len(source.strip())), int(max_ratio * len(source)) + GAP_SLACK
    text = f"[^\\[\\]{CONTROL}]"
    if not source[-1:].isspace():
        return f"{text}{{{low},{high}}}"
    body = f"{text}{{{max(0, low - 1)},{high - 1}}}\\s"
    return body if low > 0 else f"(?:{body})?"


def mark_text(entity: str, max_ratio: float = 2.0) -> str:
    """The regex of a mark's text in place of ``entity``: non-empty, no brackets, no line break, at most
    ``max_ratio`` x its length + :data:`GAP_SLACK` characters (and 80), no leading or trailing space."""
    inner = min(78, int(max_ratio * len(entity)) + GAP_SLACK - 2)
    return rf"[^\[\]\s{CONTROL}](?:[^\[\]\n{CONTROL}]{{0,{inner}}}[^\[\]\s{CONTROL}])?"


def build_contract(record: dict[str, Any], cfg: SampleConfig | None = None) -> Contract:
    """The reply contract of a segment (``sample.brat_augment.contract: ordered``): a regular expression
    matching free text holding each of the segment's marks exactly once, in the segment's order, as
    ``[[Label: text]]`` with the segment's label (the entity text itself is free: :func:`mark_text`;
    the text between marks: :func:`free_text`).

    A reply under it always decodes with every entity kept (no ``broken_markup``, ``unknown_label``,
    ``label_changed`` or ``entity_count_changed``), unless cut at ``max_new_tokens``.
    """
    plain, marks = parse_marks(record["segment"]["encoded"])
    cuts = [0, *(x for m in marks for x in (m.start, m.end)), len(plain)]
    gaps = [plain[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2)]  # the text before, between and after marks
    defaults = {f.name: f.default for f in dataclasses.fields(SampleConfig)}
    low, high = ((cfg.contract_min_ratio, cfg.contract_max_ratio) if cfg is not None
                 else (defaults["contract_min_ratio"], defaults["contract_max_ratio"]))
    parts = [free_text(gaps[0], low, high)]
    for mark, gap in zip(marks, gaps[1:]):
        parts += [_literal(f"{OPEN}{mark.label}{LABEL_SEP} "), mark_text(mark.text, high), _literal(CLOSE),
                  free_text(gap, low, high)]
    return Contract("regex", "".join(parts))


def _literal(text: str) -> str:
    """``text`` as a regex matching itself (llguidance reads Rust regex syntax: escape only its metacharacters)."""
    return _REGEX_META.sub(r"\\\1", text)


def segment_document(segment: EncodedSegment) -> tuple[Document, EncodedSegment]:
    """The segment alone as a document (offsets from 0), and the segment re-based onto it."""
    plain, marks = parse_marks(segment.encoded)
    entities = tuple(Entity(eid, m.label, ((m.start, m.end),), m.text) for eid, m in zip(segment.entity_ids, marks))
    return (Document(segment.doc_id, plain, entities),
            dataclasses.replace(segment, start=0, end=len(plain)))


def clean_reply(text: str, labels: Collection[str] = ()) -> str:
    """The reply without what small chat models wrap around it: surrounding whitespace, code fences, an echoed
    ``Rewrite:`` prefix; and single-bracket marks ``[Label: text]`` of a known label read as ``[[Label: text]]``
    (the 135M generator's most frequent slip; anything else malformed stays broken)."""
    text = _PREFIX.sub("", _FENCE.sub("", text.strip()).strip())
    if labels:
        single = re.compile(r"(?<!\[)\[\s*(" + "|".join(re.escape(label) for label in sorted(labels)) +
                            r")\s*:([^\[\]]+)\](?!\])")
        text = single.sub(lambda m: f"[[{m.group(1)}:{m.group(2)}]]", text)
    return text.strip()


def parse_completion(text: str, prompt: dict[str, Any]) -> dict[str, Any] | Rejection:
    """The rewrite if its markup reads as a rewrite of the prompt's segment (see the module docstring)."""
    record = prompt["vars"]["record"]
    document, segment = segment_document(EncodedSegment.from_dict(record["segment"]))
    reply = clean_reply(text, record["allowed_labels"])
    result = decode_segment(document, segment, reply, labels=record["allowed_labels"], min_entity_recall=0.0)
    if isinstance(result, DecodeRejection):
        return Rejection(prompt["id"], result.reason, result.detail)
    kept = len(record["segment"]["entity_ids"]) - result.dropped.get("entities", 0)
    return {"text": result.document.text, "encoded": reply, "entities_kept": kept}


# ---- postprocess@brat_augment: the recipe check of the quality gates ------------------------------------
@dataclasses.dataclass(frozen=True)
class BratAugmentCheckConfig:
    """``params.yaml: postprocess.recipes.brat_augment.check``."""

    source_var: str = "segment"  # prompt.vars key of the prompted segment (marked ``[[Label: text]]``)
    min_length_ratio: NonNegativeFloat = 0.5  # tokens of the rewrite / tokens of the segment, marks decoded on both sides
    max_length_ratio: PositiveFloat = 2.0  # a 135M model's runaway repetition of one sentence lands above this


def check_brat_augment(prompt: Any, generation: Any, cfg: BratAugmentCheckConfig) -> CheckOutcome:
    """Length ratio of the gated rewrite (``postprocess.recipes.brat_augment.text: parsed.text``, marks
    decoded) to its prompted segment with its marks decoded the same way."""
    segment, _ = parse_marks(prompt_source_text(prompt, cfg.source_var))
    n_source, n_out = len(tokenize(segment)), len(tokenize(generation.text))
    ratio = n_out / max(1, n_source)
    detail = f"{n_out} tokens for a {n_source}-token segment: ratio {ratio:.2f}"
    if ratio < cfg.min_length_ratio:
        return CheckOutcome({"length_ratio": ratio}, "length_ratio_low", f"{detail} < min {cfg.min_length_ratio}")
    if ratio > cfg.max_length_ratio:
        return CheckOutcome({"length_ratio": ratio}, "length_ratio_high", f"{detail} > max {cfg.max_length_ratio}")
    return CheckOutcome({"length_ratio": ratio})


CHECK = RecipeCheck(BratAugmentCheckConfig, check_brat_augment)
