"""Stage retrieval_queryset: test patients' record or KG-mention entities -> queries (docs/retrieval.md)."""

from __future__ import annotations

from pathlib import Path

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import load_base, load_params
from clinsynth.records import read_jsonl, write_json, write_jsonl
from clinsynth.retrieval.matcher import EntityMatcher
from clinsynth.retrieval.queryset import RetrievalQuerysetConfig, build_queryset


def main() -> None:
    base = load_base()
    cfg = load_params("retrieval_queryset", RetrievalQuerysetConfig)
    kg = KnowledgeGraph.load(base.paths.kg_graph)
    matcher = EntityMatcher.from_kg(kg, cfg.matcher)
    queries, report = build_queryset(list(read_jsonl(base.paths.notes)), list(read_jsonl(base.paths.chunks)), kg,
                                     matcher, cfg.queries, base.seed)
    write_jsonl(cfg.out, queries)
    write_json(Path(base.paths.metrics) / "retrieval_queryset.json", report)
    print(f"retrieval_queryset: source {report['source']} (queries.source {cfg.queries.source}): "
          f"{report['patients']} {cfg.queries.split} patients, {report['entities']} entities -> "
          f"{report['queries']} queries {report['by_match']}; dropped {report['dropped']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
