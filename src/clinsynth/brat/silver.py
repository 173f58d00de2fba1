"""A silver BRAT corpus from coded notes: entities found by matching the record's displays, Treats from reasons.

Input: notes whose ``meta`` carries the coded record (the demo's Synthea notes)::

    conditions  [{snomed, display, icd10}]          display with a SNOMED semantic tag, "Gingivitis (disorder)"
    medications [{rxnorm, display, reasons[snomed]}] MedicationRequest.reasonReference: the conditions it treats
    procedures  [{snomed, display}]

Rules (docs/brat_augment.md):

* **Which record.** ``scope="encounter"``: the note's own items, plus the conditions its medications are
  prescribed for. ``scope="patient"`` (default): the items of every note of the same patient, because the
  notes' history and medication lists name the patient's earlier conditions and drugs; an unannotated
  mention of a real condition would teach the NER model that it is not one.
* **Labels.** ``Condition``: a condition whose semantic tag is in ``condition_tags``, or that has an
  ICD-10-CM code (clinical findings such as prediabetes, obesity, chronic pain), or has no tag. Other
  conditions (social and administrative findings, situations: "Received higher education (finding)",
  "Medication review due (situation)") are not entities; counted as ``excluded_conditions``.
  ``Medication``: every medication. ``Procedure``: a procedure whose tag is in ``procedure_tags``.
* **Matching.** Case-insensitive, on word boundaries, longest match first, never overlapping. The full
  display (with its tag) is searched first; the entity span is the display without the tag
  (``gingivitis`` in ``gingivitis (disorder)``); a medication's span is its whole display. Only when
  the full display occurs nowhere in the text is the short name searched: a condition's or procedure's
  name without the tag, a medication's ingredient (the leading words before the first token with a
  digit, e.g. ``lisinopril`` in "lisinopril 10 MG Oral Tablet"); and only for the note's own encounter
  items, never for the rest of the patient's record (the ingredient of a drug prescribed years ago
  matches the allergy list: "# Allergies\npenicillin v"). Counted by method in the metrics.
* **Relations.** ``Treats(Arg1: Medication, Arg2: Condition)``: for each medication mention and each
  of its reasons, the mention of that condition nearest in sentences (ties: the earlier), when at most
  ``relation_window`` sentences away. Demo notes list drugs and conditions in separate sections: the
  text does not state the relation, the record does.
* **Normalizations.** ``N`` lines ``Reference T1 SNOMED:66383009`` / ``RxNorm:...`` keep the codes.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Literal

from clinsynth.brat import Document, Entity, Normalization, Relation, validate_document
from clinsynth.corpus import SPLITS, Note
from clinsynth.errors import InputError
from clinsynth.params import NonNegativeInt

Span = tuple[int, int]
_TAG = re.compile(r"\s*\(([^()]+)\)\s*$")
_DIGIT_TOKEN = re.compile(r"\S*\d\S*")


class SilverCorpusError(InputError):
    """A note's record cannot be read (missing meta fields), or a built document fails validation."""


@dataclasses.dataclass(frozen=True)
class SilverConfig:
    scope: Literal["encounter", "patient"] = "patient"
    condition_tags: list[str] = dataclasses.field(default_factory=lambda: ["disorder"])
    procedure_tags: list[str] = dataclasses.field(default_factory=lambda: ["procedure", "regime/therapy"])
    relation_window: NonNegativeInt = 12  # sentences between a medication mention and its reason's mention
    max_docs: dict[str, int | None] = dataclasses.field(default_factory=dict)  # per split; None/absent: all


@dataclasses.dataclass(frozen=True)
class BratSilverConfig(SilverConfig):
    """``params.yaml: brat_silver``: the corpus settings and where the stage writes it."""

    out_dir: str = "data/interim/brat"


@dataclasses.dataclass(frozen=True)
class RecordItem:
    """One coded item of a record, to be looked for in the text."""

    label: str  # Condition | Medication | Procedure
    refdb: str  # SNOMED | RxNorm
    code: str
    display: str  # as coded, e.g. "Gingivitis (disorder)"
    name: str  # the span text: display without its tag (medications: the display)
    short: str  # fallback pattern when the display is absent: name without tag / ingredient
    reasons: tuple[str, ...] = ()  # medications: SNOMED codes of the conditions treated


@dataclasses.dataclass(frozen=True)
class SilverResult:
    documents: dict[str, list[Document]]  # split -> documents sorted by id
    metrics: dict[str, Any]


def split_tag(display: str) -> tuple[str, str | None]:
    """``"Gingivitis (disorder)"`` -> ``("Gingivitis", "disorder")``; no tag -> ``(display, None)``."""
    m = _TAG.search(display)
    return (display[:m.start()].strip(), m.group(1)) if m else (display.strip(), None)


def ingredient(display: str) -> str:
    """Leading words before the first token holding a digit, after any leading dose (``0.4 ML``):
    ``"lisinopril 10 MG Oral Tablet"`` -> ``lisinopril``; ``"0.4 ML adalimumab 100 MG/ML ..."`` -> ``adalimumab``."""
    words: list[str] = []
    for token in display.split():
        is_dose = bool(_DIGIT_TOKEN.fullmatch(token)) or (token.isupper() and len(token) <= 3)
        if is_dose and words:
            break
        if not is_dose:
            words.append(token)
    return " ".join(words) if words else display.strip()


def condition_label(item: dict[str, Any], cfg: SilverConfig) -> bool:
    _, tag = split_tag(item["display"])
    return tag is None or tag in cfg.condition_tags or bool(item.get("icd10"))


def record_items(meta: dict[str, Any], cfg: SilverConfig, displays: dict[str, dict[str, Any]]) -> tuple[list[RecordItem], int]:
    """The items of one record to annotate and the number of conditions excluded as non-clinical.

    ``displays`` maps SNOMED codes to condition dicts, to name the conditions a medication is prescribed for.
    """
    try:
        conditions = {c["snomed"]: c for c in meta["conditions"]}
        medications, procedures = meta["medications"], meta["procedures"]
    except KeyError as exc:
        raise SilverCorpusError(f"note meta lacks {exc.args[0]!r}; expected conditions[], medications[], "
                                f"procedures[] (the coded record, see docs/brat_augment.md)") from exc
    for med in medications:
        for code in med.get("reasons", []):
            if code not in conditions and code in displays:
                conditions[code] = displays[code]
    items, excluded = [], 0
    for code, c in sorted(conditions.items()):
        if not condition_label(c, cfg):
            excluded += 1
            continue
        name, _ = split_tag(c["display"])
        items.append(RecordItem("Condition", "SNOMED", code, c["display"], name, name))
    for m in sorted(medications, key=lambda m: m["rxnorm"]):
        items.append(RecordItem("Medication", "RxNorm", m["rxnorm"], m["display"], m["display"].strip(),
                                ingredient(m["display"]), tuple(sorted(set(m.get("reasons", []))))))
    for p in sorted(procedures, key=lambda p: p["snomed"]):
        name, tag = split_tag(p["display"])
        if tag is None or tag in cfg.procedure_tags:
            items.append(RecordItem("Procedure", "SNOMED", p["snomed"], p["display"], name, name))
    return _dedupe(items), excluded


def _dedupe(items: list[RecordItem]) -> list[RecordItem]:
    by_key: dict[tuple[str, str], RecordItem] = {}
    for item in items:
        key = (item.label, item.code)
        if key in by_key:  # the same drug prescribed for several reasons across encounters
            old = by_key[key]
            item = dataclasses.replace(old, reasons=tuple(sorted(set(old.reasons) | set(item.reasons))),
                                       short=old.short or item.short)
        by_key[key] = item
    return [by_key[k] for k in sorted(by_key)]


def _find(text_lower: str, pattern: str) -> list[int]:
    if not pattern.strip():
        return []
    regex = re.compile(r"(?<!\w)" + re.escape(pattern.lower()) + r"(?!\w)")
    return [m.start() for m in regex.finditer(text_lower)]


def match_items(text: str, items: Sequence[RecordItem]) -> tuple[list[tuple[RecordItem, Span]], Counter]:
    """Non-overlapping mentions ``(item, entity span)`` in text order, and counts by match method."""
    lower = text.lower()
    candidates = []  # (matched length, start, item, entity span, method)
    for item in items:
        starts = _find(lower, item.display.strip())
        if starts:
            length, method, span_len = len(item.display.strip()), "display", len(item.name)
        else:
            starts = _find(lower, item.short)
            length, method, span_len = len(item.short), "short_name", len(item.short)
        candidates += [(length, s, item, (s, s + span_len), method) for s in starts]
    taken: list[Span] = []
    mentions, methods = [], Counter()
    for length, start, item, span, method in sorted(candidates, key=lambda c: (-c[0], c[1], c[2].label, c[2].code)):
        region = (start, start + length)
        if any(region[0] < e and s < region[1] for s, e in taken):
            continue
        taken.append(region)
        mentions.append((item, span))
        methods[method] += 1
    return sorted(mentions, key=lambda m: m[1]), methods


def sentence_of(spans: Sequence[Span], position: int) -> int:
    """Index of the sentence holding ``position`` (the last one starting at or before it)."""
    index = 0
    for i, (start, _) in enumerate(spans):
        if start <= position:
            index = i
    return index


def annotate(doc_id: str, text: str, items: Sequence[RecordItem], sentences: Sequence[Span],
             window: int) -> tuple[Document, dict[str, Any]]:
    """The silver document of one note and its counts (see the module docstring for the rules)."""
    mentions, methods = match_items(text, items)
    entities, normalizations, sentence, item_of = [], [], {}, {}
    for i, (item, (s, e)) in enumerate(mentions, start=1):
        tid = f"T{i}"
        entities.append(Entity(tid, item.label, ((s, e),), text[s:e]))
        normalizations.append(Normalization(f"N{i}", "Reference", tid, item.refdb, item.code, item.name))
        sentence[tid], item_of[tid] = sentence_of(sentences, s), item
    conditions_by_code = defaultdict(list)
    for entity in entities:
        if entity.label == "Condition":
            conditions_by_code[item_of[entity.id].code].append(entity)
    pairs, counts = [], Counter()
    for med in (e for e in entities if e.label == "Medication"):
        for code in item_of[med.id].reasons:
            found = conditions_by_code.get(code, [])
            if not found:
                counts["reason_not_mentioned"] += 1
                continue
            best = min(found, key=lambda c: (abs(sentence[c.id] - sentence[med.id]), c.start))
            if abs(sentence[best.id] - sentence[med.id]) > window:
                counts["reason_out_of_window"] += 1
                continue
            pairs.append((med, best))
    relations = tuple(Relation(f"R{i}", "Treats", m.id, c.id)
                      for i, (m, c) in enumerate(sorted(set(pairs), key=lambda p: (p[0].start, p[1].start)), 1))
    document = Document(doc_id, text, tuple(entities), relations, normalizations=tuple(normalizations))
    issues = validate_document(document, f"{doc_id}.ann")
    if issues:
        raise SilverCorpusError(f"silver document {doc_id}: {issues[0].message}")
    found = {(item.label, item.code) for item, _ in mentions}
    return document, {"methods": methods, "relations": counts, "found": found}


def choose_notes(notes: Sequence[Note], max_docs: dict[str, int | None], seed: int) -> dict[str, list[Note]]:
    """Per split, at most ``max_docs[split]`` notes (a seeded sample), sorted by id."""
    chosen = {}
    for split in SPLITS:
        pool = sorted((n for n in notes if n.split == split), key=lambda n: n.id)
        limit = max_docs.get(split)
        if limit is not None and limit < len(pool):
            pool = sorted(random.Random(f"{seed}:{split}").sample(pool, limit), key=lambda n: n.id)
        chosen[split] = pool
    return chosen


def build_silver_corpus(notes: Sequence[Note], cfg: SilverConfig, seed: int,
                        split_sentences: Callable[[str], list[Span]], progress: Callable = iter) -> SilverResult:
    """Silver documents per split (ids = note ids) and their metrics; ``split_sentences(text)`` gives sentence spans."""
    unknown = sorted(set(cfg.max_docs) - set(SPLITS))
    if unknown:
        raise SilverCorpusError(f"max_docs has unknown split {unknown[0]!r}; expected some of {list(SPLITS)}")
    displays = {c["snomed"]: c for n in notes for c in n.meta.get("conditions", [])}
    patient_meta: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    if cfg.scope == "patient":
        for n in sorted(notes, key=lambda n: n.id):
            for key in ("conditions", "medications", "procedures"):
                patient_meta[n.meta.get("patient_id", n.id)][key] += n.meta.get(key, [])
    documents: dict[str, list[Document]] = {}
    per_split = {}
    for split, chosen in choose_notes(notes, cfg.max_docs, seed).items():
        totals: dict[str, Counter] = defaultdict(Counter)
        documents[split] = []
        for note in progress(chosen):
            own, excluded = record_items(note.meta, cfg, displays)
            items = own
            if cfg.scope == "patient":
                history, _ = record_items(patient_meta[note.meta.get("patient_id", note.id)], cfg, displays)
                items = _dedupe(own + [dataclasses.replace(i, short="") for i in history])
            document, counts = annotate(note.id, note.text, items, split_sentences(note.text), cfg.relation_window)
            documents[split].append(document)
            totals["record_items"].update(i.label for i in own)
            totals["unmatched_record_items"].update(i.label for i in own if (i.label, i.code) not in counts["found"])
            totals["entities"].update(e.label for e in document.entities)
            totals["match_method"].update(counts["methods"])
            totals["relations_not_made"].update(counts["relations"])
            totals["excluded_conditions"]["total"] += excluded
            totals["relations"]["Treats"] += len(document.relations)
        per_split[split] = _split_metrics(len(chosen), totals)
    return SilverResult(documents, {"scope": cfg.scope, "relation_window": cfg.relation_window,
                                    "splits": per_split})


def _split_metrics(n_docs: int, totals: dict[str, Counter]) -> dict[str, Any]:
    record, unmatched = totals["record_items"], totals["unmatched_record_items"]
    n_record = sum(record.values())
    return {
        "docs": n_docs,
        "entities": dict(sorted(totals["entities"].items())),
        "entities_total": sum(totals["entities"].values()),
        "relations": dict(sorted(totals["relations"].items())),
        "relations_not_made": dict(sorted(totals["relations_not_made"].items())),
        "match_method": dict(sorted(totals["match_method"].items())),
        "excluded_conditions": totals["excluded_conditions"]["total"],
        "record_items": dict(sorted(record.items())),
        "unmatched_record_items": {label: unmatched.get(label, 0) for label in sorted(record)},
        "unmatched_fraction": round(sum(unmatched.values()) / n_record, 4) if n_record else 0.0,
    }
