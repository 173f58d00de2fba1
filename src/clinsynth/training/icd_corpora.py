"""kg_notes' task side: the gated kg_notes corpora cut into one ICD training corpus per variant.

A variant is one (corpus, template, draw sets) triple: ``baseline_v1``, ``full_v1`` (corpus ``kg_notes``, the
base generator), ``full_v1_lora`` (corpus ``kg_notes_lora``, the adapter), ``full_v1_rare`` (+ the rare-code
draws). Its corpus is a filter of what postprocess@<corpus> kept, on each record's ``template`` and
``vars.draw_set``: every gate (leakage against every train note, the example shown in the prompt included;
degeneracy; duplicates; the symptom check) ran there, with one config, so nothing is gated again here.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.recipes.kg_notes import check_draw_sets
from clinsynth.records import DroppedRecord, SyntheticRecord

SPAN_EDGES = [0, 8, 16, 24, 32, 64, 1_000_000]


@dataclasses.dataclass(frozen=True)
class Variant:
    corpus: str  # postprocess@<corpus>'s gated corpus (data/synthetic/<corpus>/)
    template: str
    # which sample@kg_notes draw sets: all (targets by weighting) and/or upsample (the rare-code draws)
    draw_sets: list[str] = dataclasses.field(default_factory=lambda: ["all"])


@dataclasses.dataclass(frozen=True)
class KgNotesCorporaConfig:
    """``params.yaml: kg_notes_corpora``."""

    synthetic_dir: str  # = postprocess.synthetic_dir
    out_dir: str
    variants: dict[str, Variant]
    usage_edges: list[float]


@dataclasses.dataclass(frozen=True)
class VariantCorpora:
    corpora: dict[str, list[dict[str, Any]]]  # variant -> its training records, sorted by id
    metrics: dict[str, Any]


def _in_variant(variant: Variant, template: str, variables: Mapping[str, Any]) -> bool:
    return template == variant.template and variables.get("draw_set") in variant.draw_sets


def training_record(r: SyntheticRecord) -> dict[str, Any]:
    """What train_icd reads of a gated note: its code and text, with the figures that explain it."""
    return {"id": r.id, "prompt_id": r.prompt_id, "template": r.template, "model": r.model, "code": r.vars["code"],
            "text": r.text, "symptom_usage": r.checks.get("symptom_usage"),
            "train_longest_span": r.leakage["train_longest_span"],
            # the prompt's only note source is its example: postprocess measured the copying of it
            "example_longest_span": r.leakage["source_longest_span"] if r.vars.get("example") else None}


def variant_corpora(gated: Mapping[str, tuple[Sequence[SyntheticRecord], Sequence[DroppedRecord]]],
                    cfg: KgNotesCorporaConfig) -> VariantCorpora:
    """``gated``: corpus name -> (kept records, dropped records) of postprocess@<corpus>."""
    metrics: dict[str, Any] = {"prompts": {}, "variants": {}}
    answered = {(r.template, r.prompt_id): r.vars for kept, dropped in gated.values() for r in [*kept, *dropped]}
    for template in sorted({v.template for v in cfg.variants.values()}):
        mine = [v for (t, _), v in sorted(answered.items()) if t == template]
        metrics["prompts"][template] = {"prompts": len(mine), "without_symptoms": sum(not v["symptoms"] for v in mine),
                                        "symptom_source": dict(sorted(Counter(v["symptom_source"] for v in mine).items())),
                                        "with_example": sum(bool(v["example"]) for v in mine),
                                        "draw_sets": dict(sorted(Counter(v["draw_set"] for v in mine).items()))}
    corpora = {}
    for name, variant in sorted(cfg.variants.items()):
        check_draw_sets(variant.draw_sets, f"kg_notes_corpora.variants.{name}.draw_sets")
        kept_all, dropped_all = gated[variant.corpus]
        kept = sorted((r for r in kept_all if _in_variant(variant, r.template, r.vars)), key=lambda r: r.id)
        dropped = [d for d in dropped_all if _in_variant(variant, d.template, d.vars)]
        corpora[name] = [training_record(r) for r in kept]
        usage = [r.checks["symptom_usage"] for r in kept if "symptom_usage" in r.checks]
        spans = [c["example_longest_span"] for c in corpora[name] if c["example_longest_span"] is not None]
        metrics["variants"][name] = {
            "answers": len(kept) + len(dropped),
            "rejected_at_generation": dict(sorted(Counter(d.reason for d in dropped if d.stage == "generate").items())),
            "dropped_at_postprocess": dict(sorted(Counter(d.reason for d in dropped if d.stage != "generate").items())),
            "kept": len(kept),
            "symptom_usage": distribution(usage, cfg.usage_edges),  # of the kept notes whose prompt listed symptoms
            "example_longest_span": distribution(spans, SPAN_EDGES)}
    return VariantCorpora(corpora, metrics)


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
