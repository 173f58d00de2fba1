"""kg_notes after generation: generator fine-tuning pairs from real notes, and the per-variant gates
(copying of the example or of train notes, symptom usage) with their distributions."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import Fraction, NonNegativeInt, PositiveInt
from clinsynth.recipes.kg_notes import ResolveConfig, disease_name, mentions, resolve_nodes, symptom_usage


# ---- generator fine-tuning pairs ----------------------------------------------------------------------
def finetune_vars(note: Mapping[str, Any], kg: KnowledgeGraph, notes: Sequence[Mapping[str, Any]],
                  resolve: ResolveConfig) -> dict[str, Any]:
    """Template variables describing a real note as a kg_notes prompt would: its codes' disease names and
    the KG symptoms of those codes that the note itself mentions (no example, no drugs)."""
    codes = sorted(set(note["meta"].get("icd10") or ()))
    names = [disease_name(c, kg, notes) for c in codes]
    found: dict[str, dict[str, Any]] = {}
    for code in codes:
        nodes, _ = resolve_nodes(kg, code, kg.symptoms_of, resolve.max_up, resolve.max_down)
        for symptom in sorted({s for n in nodes for s in kg.symptoms_of(n)}):
            label = kg.label(symptom) or symptom
            variants = list(dict.fromkeys([label, *kg.synonyms(symptom)]))
            hit = next((v for v in variants if mentions(note["text"], [v])), None)
            if hit and symptom not in found:
                found[symptom] = {"id": symptom, "label": label, "text": hit, "variants": variants}
    return {"code": ", ".join(codes), "disease": " and ".join(names), "symptoms": list(found.values()),
            "symptom_source": "note", "symptom_nodes": [], "drugs": [], "example": None, "example_id": None}


def select_finetune_notes(notes: Sequence[Mapping[str, Any]], max_pairs: int, split: str,
                          seed: int) -> list[Mapping[str, Any]]:
    """Labelled notes of ``split`` (by id), a seeded sample of ``max_pairs`` (0: all)."""
    pool = sorted((n for n in notes if n["split"] == split and n["meta"].get("icd10")), key=lambda n: n["id"])
    if max_pairs and len(pool) > max_pairs:
        pool = sorted(random.Random(seed).sample(pool, max_pairs), key=lambda n: n["id"])
    return pool


# ---- per-variant corpora: fidelity and copying gates --------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GateConfig:
    ngram: PositiveInt = 8  # shortest verbatim span seen (tokens)
    max_span: NonNegativeInt = 24  # drop a note sharing a longer verbatim span with any train note (its example included)
    max_overlap: Fraction = 0.5  # drop a note whose share of n-grams found in train notes is larger
    min_symptom_usage: Fraction = 0.0  # drop a note using a smaller share of its prompt's symptoms (0: measure only)


def gate_generations(prompts: Mapping[str, Mapping[str, Any]], generations: Sequence[Mapping[str, Any]],
                     train_index: Any, cfg: GateConfig) -> tuple[list[dict[str, Any]], Counter, list[float], list[int]]:
    """Keep or drop each generation: ``(kept records, drops by reason, usage ratios, example spans)``.

    A kept record: ``{"id", "prompt_id", "template", "model", "code", "text", "symptom_usage",
    "train_longest_span", "example_longest_span"}``. Usage ratios are of every generation whose prompt
    had symptoms (before dropping), example spans of every generation whose prompt had an example.
    """
    from clinsynth.quality.leakage import NgramIndex

    kept, drops, usage, spans = [], Counter(), [], []
    for g in sorted(generations, key=lambda g: g["id"]):
        prompt = prompts[g["prompt_id"]]
        pv = prompt["vars"]
        ratio = symptom_usage(g["text"], pv.get("symptoms") or [])
        if ratio is not None:
            usage.append(ratio)
        example_span = NgramIndex(cfg.ngram).add([pv["example"]]).measure(g["text"]).longest_span \
            if pv.get("example") else None
        if example_span is not None:
            spans.append(example_span)
        leak = train_index.measure(g["text"])
        if example_span is not None and example_span > cfg.max_span:
            drops["copies_example"] += 1
        elif leak.longest_span > cfg.max_span:
            drops["leakage_span"] += 1
        elif leak.overlap > cfg.max_overlap:
            drops["leakage_overlap"] += 1
        elif ratio is not None and ratio < cfg.min_symptom_usage:
            drops["symptom_usage_low"] += 1
        else:
            kept.append({"id": g["id"], "prompt_id": g["prompt_id"], "template": prompt["template"],
                         "model": g["model"], "code": pv["code"], "text": g["text"], "symptom_usage": ratio,
                         "train_longest_span": leak.longest_span, "example_longest_span": example_span})
    return kept, drops, usage, spans


def distribution(values: Sequence[float], edges: Sequence[float]) -> dict[str, Any]:
    """``{"n", "mean", "p10", "p50", "p90", "min", "max", "histogram"}`` (histogram: counts in [e_i, e_i+1),
    the last bucket closed), rounded to 4 decimals; ``n: 0`` and nulls when empty."""
    import numpy as np

    if not values:
        return {"n": 0, "mean": None, "p10": None, "p50": None, "p90": None, "min": None, "max": None, "histogram": {}}
    arr = np.asarray(values, dtype=float)
    counts, _ = np.histogram(arr, bins=list(edges))
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)]
    q = {p: round(float(np.percentile(arr, p)), 4) for p in (10, 50, 90)}
    return {"n": len(values), "mean": round(float(arr.mean()), 4), "p10": q[10], "p50": q[50], "p90": q[90],
            "min": round(float(arr.min()), 4), "max": round(float(arr.max()), 4),
            "histogram": dict(zip(labels, (int(c) for c in counts)))}
