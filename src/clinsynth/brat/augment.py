"""brat_augment's task side: gated rewrites spliced back into BRAT documents, and the NER/RE scores.

Decoding (stage ``decode_brat_augment``, :func:`decode_records`): each record of the gated corpus
(``data/synthetic/brat_augment/records.jsonl``, its marked rewrite in ``parsed.encoded``) is spliced into its
full source document; rejected (``entity_missing``, ``invalid_document``), unchanged copies and repeats are
dropped and counted; leakage of the rewrite against the train documents is measured with
:class:`clinsynth.quality.leakage.NgramIndex`, and dropped only when a limit is set.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from clinsynth.brat.decode import DecodeRejection, decode_segment
from clinsynth.brat.inline import EncodedSegment
from clinsynth.brat.model import Document
from clinsynth.errors import InputError
from clinsynth.params import Fraction, NonNegativeInt, PositiveInt
from clinsynth.records import DroppedRecord, SyntheticRecord

Span = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """``params.yaml: decode_brat_augment``."""

    out_dir: str  # augmented BRAT documents (<out_dir>/<doc>.s<i>.g<k>.txt/.ann)
    records: str  # one line per generation: status, reason, figures
    labels: list[str]  # labels a mark may carry
    min_entity_recall: Fraction = 1.0  # share of a segment's entities a rewrite must keep (a lost one is dropped
    #                                 with its relations, and its text stays unannotated: keep 1.0 for NER)
    drop_unchanged: bool = True  # a rewrite identical to its source adds nothing
    leakage_ngram: PositiveInt = 8
    max_leak_span: NonNegativeInt | None = None  # drop a rewrite sharing a longer verbatim span with the train notes; null: measure only
    max_leak_overlap: Fraction | None = None
    corpus_dir: str = "data/synthetic/brat_augment"  # postprocess@brat_augment's gated corpus: records.jsonl is
    #                               decoded, dropped.jsonl (gates and generate-time rejections) counted by reason


@dataclasses.dataclass(frozen=True)
class DecodeResult:
    documents: list[Document]  # augmented documents, sorted by id
    records: list[dict[str, Any]]  # one per gated record: id, prompt_id, doc_id, status, reason, detail, figures
    metrics: dict[str, Any]


def rewritten_span(source: Document, segment: EncodedSegment, new: Document) -> Span:
    """``[start, end)`` of the rewritten segment inside ``new`` (prefix and suffix are untouched)."""
    return segment.start, segment.end + len(new.text) - len(source.text)


def decode_records(documents: Sequence[Document], records: Sequence[SyntheticRecord],
                   dropped: Sequence[DroppedRecord], cfg: DecodeConfig, train_texts: Sequence[str]) -> DecodeResult:
    """Splice every gated rewrite into its source document; count what was rejected or dropped and why.

    ``documents``: the train documents the prompts were sampled from; ``records``: the gated corpus of
    postprocess@brat_augment (the marked rewrite is ``parsed.encoded``, its segment ``vars.record``);
    ``dropped``: what did not make the corpus (gates and generate-time rejections), counted as answers whose
    entities were not preserved; ``train_texts``: the texts leakage is measured against (the train
    documents' texts). Records are read in id order (deterministic output).
    """
    from clinsynth.quality.leakage import NgramIndex

    by_doc = {d.id: d for d in documents}
    index = NgramIndex(cfg.leakage_ngram).add(train_texts)
    outcomes, kept, seen = [], [], set()
    ordinal: Counter = Counter()
    for r in sorted(records, key=lambda r: r.id):
        segment = EncodedSegment.from_dict(r.vars["record"]["segment"])
        source = by_doc.get(segment.doc_id)
        if source is None:
            raise InputError(f"record {r.id}: document {segment.doc_id!r} of segment {segment.segment_id} "
                             f"is not in the corpus; the corpus changed since sampling (rerun sample@brat_augment)")
        if not isinstance(r.parsed.get("encoded"), str):
            raise InputError(f"record {r.id}: parsed has {sorted(r.parsed)}, no 'encoded' (the marked rewrite); "
                             f"rerun generate@brat_augment and postprocess@brat_augment")
        outcome = {"id": r.id, "prompt_id": r.prompt_id, "segment_id": segment.segment_id}
        doc_id = f"{segment.doc_id}.s{segment.segment_id.rpartition(':')[2]}.g{ordinal[segment.segment_id]}"
        result = decode_segment(source, segment, r.parsed["encoded"], labels=cfg.labels,
                                min_entity_recall=cfg.min_entity_recall, doc_id=doc_id)
        outcomes.append(outcome)
        if isinstance(result, DecodeRejection):
            outcome.update(status="rejected", reason=result.reason, detail=result.detail)
            continue
        if result.stripped:  # chat wrapping (a "Sure! Here is ..." line) decode_segment left out of the document
            outcome["stripped"] = list(result.stripped)
        start, end = rewritten_span(source, segment, result.document)
        new_text, old_text = result.document.text[start:end].strip(), source.text[segment.start:segment.end].strip()
        leak = index.measure(new_text)
        outcome.update(doc_id=doc_id, similarity=difflib.SequenceMatcher(None, old_text, new_text, autojunk=False).ratio(),
                       leak_span=leak.longest_span, leak_overlap=leak.overlap,
                       entities_dropped=result.dropped.get("entities", 0),
                       relations_dropped=result.dropped.get("relations", 0))
        why = _drop_reason(new_text, old_text, (segment.segment_id, new_text) in seen, leak, cfg)
        if why:
            outcome.update(status="dropped", reason=why[0], detail=why[1])
            continue
        seen.add((segment.segment_id, new_text))
        ordinal[segment.segment_id] += 1
        outcome.update(status="kept", reason=None, detail="")
        kept.append(result)
    metrics = decode_metrics(records, dropped, outcomes)
    return DecodeResult(sorted((k.document for k in kept), key=lambda d: d.id), outcomes, metrics)


def _drop_reason(new_text: str, old_text: str, is_repeat: bool, leak: Any, cfg: DecodeConfig) -> tuple[str, str] | None:
    if cfg.drop_unchanged and new_text == old_text:
        return "unchanged", "the rewrite is the source segment verbatim"
    if is_repeat:
        return "duplicate", "the same rewrite of this segment was already kept"
    if cfg.max_leak_span is not None and leak.longest_span > cfg.max_leak_span:
        return "leakage_span", f"verbatim span of {leak.longest_span} tokens with a train note > {cfg.max_leak_span}"
    if cfg.max_leak_overlap is not None and leak.overlap > cfg.max_leak_overlap:
        return "leakage_overlap", f"{leak.overlap:.3f} of its n-grams in train notes > {cfg.max_leak_overlap}"
    return None


def decode_metrics(records: Sequence[SyntheticRecord], dropped: Sequence[DroppedRecord],
                   outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts by outcome and reason; entity preservation and relation survival over every answered prompt.

    An answer is a gated record or a dropped one (by the gates or at generation); its segment's marked
    entities (and the relations touching them) count as preserved only in a kept document.
    """
    from clinsynth.quality.summary import round_floats, summarize

    outcome_of = {o["id"]: o for o in outcomes}
    answers = [(d.vars, None) for d in dropped] + [(r.vars, outcome_of[r.id]) for r in records]
    marked = relations = preserved = survived = 0
    for variables, outcome in answers:
        info = variables["record"]
        n_entities, n_relations = len(info["segment"]["entity_ids"]), info["relations"]
        marked += n_entities
        relations += n_relations
        if outcome is not None and outcome["status"] == "kept":
            preserved += n_entities - outcome["entities_dropped"]
            survived += n_relations - outcome["relations_dropped"]
    by_status: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_status[o["status"]][o["reason"]] += 1
    at_generation = Counter(d.reason for d in dropped if d.stage == "generate")
    at_postprocess = Counter(d.reason for d in dropped if d.stage != "generate")
    breakdown = at_generation + at_postprocess + by_status["rejected"] + by_status["dropped"]
    decoded = [o for o in outcomes if o["status"] != "rejected"]
    kept = [o for o in outcomes if o["status"] == "kept"]
    n_answers = len(answers)
    return round_floats({
        "counts": {"prompts_answered": len({r.prompt_id for r in [*records, *dropped]}), "answers": n_answers,
                   "generations": len(records),
                   "rejected_at_generation": dict(sorted(at_generation.items())),
                   "dropped_at_postprocess": dict(sorted(at_postprocess.items())),
                   "rejected_at_decode": dict(sorted(by_status["rejected"].items())),
                   "dropped": dict(sorted(by_status["dropped"].items())),
                   "kept": len(kept), "kept_fraction": len(kept) / n_answers if n_answers else 0.0,
                   "wrapping_stripped": dict(sorted(Counter(w for r in decoded for w in r.get("stripped", ())).items()))},
        "rejections": {"by_reason": dict(sorted(breakdown.items())), "total": sum(breakdown.values())},
        "entities": {"marked": marked, "preserved": preserved,
                     "preservation_rate": preserved / marked if marked else 0.0},
        "relations": {"touching_segments": relations, "survived": survived,
                      "survival_rate": survived / relations if relations else 0.0},
        "similarity_to_source": summarize([r["similarity"] for r in decoded], [0.0, 0.5, 0.8, 0.95, 1.0]),
        "leakage": {"train_longest_span": summarize([r["leak_span"] for r in kept], [0, 8, 16, 24, 32, 64]),
                    "train_overlap": summarize([r["leak_overlap"] for r in kept], [0.0, 0.25, 0.5, 0.75, 1.0])},
    })


def _prf(scores: Any) -> dict[str, Any]:
    m = scores.micro
    return {"precision": m.precision, "recall": m.recall, "f1": m.f1, "tp": m.tp, "fp": m.fp, "fn": m.fn}


def score_variant(gold: Sequence[Document], entities: Sequence[Document], relations_on_gold: Sequence[Document],
                  relations_end_to_end: Sequence[Document], labels: Collection[str],
                  relation_labels: Collection[str]) -> dict[str, dict[str, Any]]:
    """``{"ner": ..., "re": ..., "re_end_to_end": ...}`` for one model variant on the gold test documents.

    ner: strict and lenient micro P/R/F1 and per-label F1; re: relations predicted over the gold entities;
    re_end_to_end: relations predicted over the NER model's entities (strict on both arguments' spans).
    Only ``labels`` (entities) and ``relation_labels`` are scored: the ones the models learnt.
    """
    from clinsynth.brat import score_entities, score_relations

    strict = score_entities(gold, entities, "strict", labels)
    lenient = score_entities(gold, entities, "lenient", labels)
    per_label = {label: {"strict_f1": strict.per_label[label].f1, "lenient_f1": lenient.per_label[label].f1}
                 for label in sorted(strict.per_label)}
    return {"ner": {"strict": _prf(strict), "lenient": _prf(lenient), "per_label": per_label},
            "re": _prf(score_relations(gold, relations_on_gold, relation_labels)),
            "re_end_to_end": _prf(score_relations(gold, relations_end_to_end, relation_labels))}
