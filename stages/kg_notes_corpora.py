"""Stage kg_notes_corpora: the gated kg_notes corpora -> one corpus file per variant + metrics/kg_notes_corpora.json.

A variant is one (corpus, template, draw sets) triple: ``baseline.v1``, ``full.v1`` (corpus ``kg_notes``, the base
generator) and ``full.v1.lora`` (corpus ``kg_notes_lora``, the adapter). A corpus is what ``postprocess@<corpus>``
kept (``<synthetic_dir>/<corpus>/records.jsonl``: leakage against every train note, duplicates, the symptom
check); what it dropped is counted per variant (``dropped_at_postprocess``). Each variant is then gated
again here (copying of its example note, symptom usage; see kg_notes_corpora.gate_generations) and written
to ``<out_dir>/<variant>.jsonl`` only when its content changed, so train_icd@kg_notes-<variant> reruns only for the
variants a template or adapter edit touched.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.quality.leakage import NgramIndex
from clinsynth.recipes import kg_notes_corpora
from clinsynth.recipes.kg_notes import check_draw_sets
from clinsynth.records import dumps, read_jsonl, write_json


@dataclasses.dataclass(frozen=True)
class Variant:
    corpus: str  # postprocess@<corpus>'s records; rejections at generation in data/generations/<corpus>.rejections.jsonl
    template: str
    # which sample@kg_notes draw sets: all (targets by weighting) and/or upsample (the rare-code draws)
    draw_sets: list[str] = dataclasses.field(default_factory=lambda: ["all"])


@dataclasses.dataclass(frozen=True)
class KgNotesCorporaConfig:
    synthetic_dir: str  # = postprocess.synthetic_dir
    out_dir: str
    variants: dict[str, Variant]
    gates: kg_notes_corpora.GateConfig
    usage_edges: list[float]


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def main() -> None:
    base = load_base()
    cfg = load_params("kg_notes_corpora", KgNotesCorporaConfig)
    prompts = {p["id"]: p for p in read_jsonl(Path(base.paths.prompts) / "kg_notes.jsonl")}
    index = NgramIndex(cfg.gates.ngram).add(n["text"] for n in read_jsonl(base.paths.notes) if n["split"] == "train")
    metrics: dict = {"prompts": {}, "variants": {}}
    for template in sorted({v.template for v in cfg.variants.values()}):
        mine = [p["vars"] for p in prompts.values() if p["template"] == template]
        metrics["prompts"][template] = {"prompts": len(mine), "without_symptoms": sum(not v["symptoms"] for v in mine),
                                        "symptom_source": dict(sorted(Counter(v["symptom_source"] for v in mine).items())),
                                        "with_example": sum(bool(v["example"]) for v in mine),
                                        "draw_sets": dict(sorted(Counter(v["draw_set"] for v in mine).items()))}
    out = Path(cfg.out_dir)
    for name, variant in sorted(cfg.variants.items()):
        check_draw_sets(variant.draw_sets, f"kg_notes_corpora.variants.{name}.draw_sets")

        def mine(path: Path) -> list[dict]:
            return [r for r in read_jsonl(path) if prompts[r["prompt_id"]]["template"] == variant.template
                    and prompts[r["prompt_id"]]["vars"]["draw_set"] in variant.draw_sets]

        corpus_dir = Path(cfg.synthetic_dir) / variant.corpus
        gens, gated_out = mine(corpus_dir / "records.jsonl"), mine(corpus_dir / "dropped.jsonl")
        rejected = len(mine(Path(base.paths.generations) / f"{variant.corpus}.rejections.jsonl"))
        kept, drops, usage, spans = kg_notes_corpora.gate_generations(prompts, gens, index, cfg.gates)
        changed = write_if_changed(out / f"{name}.jsonl", "".join(dumps(r) + "\n" for r in kept))
        metrics["variants"][name] = {
            "generations": len(gens) + len(gated_out), "rejected_at_generation": rejected,
            "dropped_at_postprocess": dict(sorted(Counter(r["reason"] for r in gated_out).items())),
            "gated": len(gens), "kept": len(kept),
            "dropped": dict(sorted(drops.items())), "dropped_total": sum(drops.values()),
            "symptom_usage": kg_notes_corpora.distribution(usage, cfg.usage_edges),
            "symptom_usage_kept": kg_notes_corpora.distribution([r["symptom_usage"] for r in kept
                                                         if r["symptom_usage"] is not None], cfg.usage_edges),
            "example_longest_span": kg_notes_corpora.distribution(spans, [0, 8, 16, 24, 32, 64, 1_000_000])}
        print(f"kg_notes_corpora: {name}: {len(gens) + len(gated_out)} generations, {len(gens)} passed postprocess@"
              f"{variant.corpus}, {len(kept)} kept, dropped {dict(drops)}, "
              f"usage mean {metrics['variants'][name]['symptom_usage']['mean']} {'(rewritten)' if changed else '(unchanged)'}")
    for stale in out.glob("*.jsonl"):
        if stale.stem not in cfg.variants:
            stale.unlink()
    write_json(Path(base.paths.metrics) / "kg_notes_corpora.json", metrics)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
