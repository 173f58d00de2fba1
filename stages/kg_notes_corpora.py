"""Stage kg_notes_corpora: kg_notes generations -> one gated corpus file per variant + metrics/quality_kg_notes.json.

A variant is one (generations file, template) pair: ``baseline.v1``, ``full.v1`` (base generator) and
``full.v1.lora`` (adapter). Each is gated (copying of its example note or of any train note, symptom usage;
see kg_notes_corpora.gate_generations) and written to ``<out_dir>/<variant>.jsonl`` only when its content changed,
so train_icd@<variant> reruns only for the variants a template or adapter edit touched.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.quality.leakage import NgramIndex
from clinsynth.recipes import kg_notes_corpora
from clinsynth.records import dumps, read_jsonl, write_json


@dataclasses.dataclass(frozen=True)
class Variant:
    generations: str  # data/generations/<generations>.jsonl
    template: str


@dataclasses.dataclass(frozen=True)
class KgNotesCorporaConfig:
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
                                        "with_example": sum(bool(v["example"]) for v in mine)}
    out = Path(cfg.out_dir)
    for name, variant in sorted(cfg.variants.items()):
        gens_path = Path(base.paths.generations) / f"{variant.generations}.jsonl"
        gens = [g for g in read_jsonl(gens_path) if prompts[g["prompt_id"]]["template"] == variant.template]
        rejected = sum(1 for r in read_jsonl(gens_path.with_suffix(".rejections.jsonl"))
                       if prompts[r["prompt_id"]]["template"] == variant.template)
        kept, drops, usage, spans = kg_notes_corpora.gate_generations(prompts, gens, index, cfg.gates)
        changed = write_if_changed(out / f"{name}.jsonl", "".join(dumps(r) + "\n" for r in kept))
        metrics["variants"][name] = {
            "generations": len(gens), "rejected_at_generation": rejected, "kept": len(kept),
            "dropped": dict(sorted(drops.items())), "dropped_total": sum(drops.values()),
            "symptom_usage": kg_notes_corpora.distribution(usage, cfg.usage_edges),
            "symptom_usage_kept": kg_notes_corpora.distribution([r["symptom_usage"] for r in kept
                                                         if r["symptom_usage"] is not None], cfg.usage_edges),
            "example_longest_span": kg_notes_corpora.distribution(spans, [0, 8, 16, 24, 32, 64, 1_000_000])}
        print(f"kg_notes_corpora: {name}: {len(gens)} generations, {len(kept)} kept, dropped {dict(drops)}, "
              f"usage mean {metrics['variants'][name]['symptom_usage']['mean']} {'(rewritten)' if changed else '(unchanged)'}")
    for stale in out.glob("*.jsonl"):
        if stale.stem not in cfg.variants:
            stale.unlink()
    write_json(Path(base.paths.metrics) / "quality_kg_notes.json", metrics)


if __name__ == "__main__":
    main()
