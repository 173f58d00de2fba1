"""Stage retrieval_pairs: train chunks x KG -> stage I pairs; the gated retrieval_queries corpus -> stage II pairs (docs/retrieval.md)."""

from __future__ import annotations

from pathlib import Path

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import load_base, load_params
from clinsynth.records import DroppedRecord, SyntheticRecord, read_jsonl, read_records, write_json, write_jsonl
from clinsynth.retrieval.matcher import EntityMatcher
from clinsynth.retrieval.pairs import RetrievalPairsConfig, knowledge_pairs, llm_pairs


def main() -> None:
    base = load_base()
    cfg = load_params("retrieval_pairs", RetrievalPairsConfig)
    kg = KnowledgeGraph.load(base.paths.kg_graph)
    matcher = EntityMatcher.from_kg(kg, cfg.matcher)
    chunks = list(read_jsonl(base.paths.chunks))
    stage1, chunks1, report1 = knowledge_pairs(chunks, kg, matcher, cfg.pairs, base.seed)
    corpus = Path(cfg.corpus_dir)
    stage2, chunks2, rejections, report2 = llm_pairs(read_records(corpus / "records.jsonl", SyntheticRecord),
                                                     read_records(corpus / "dropped.jsonl", DroppedRecord),
                                                     chunks, kg, matcher, cfg.pairs)
    out = Path(cfg.out_dir)
    write_jsonl(out / "pairs_stage1.jsonl", stage1)
    write_jsonl(out / "pairs_stage2.jsonl", stage2)
    write_jsonl(out / "stage2_rejections.jsonl", rejections)
    by_id = {c.id: c for c in [*chunks1, *chunks2]}
    write_jsonl(out / "train_chunks.jsonl", [by_id[k] for k in sorted(by_id)])
    write_json(Path(base.paths.metrics) / "retrieval_pairs.json",
               {"stage1": report1, "stage2": report2, "kg_names_indexed": len(matcher.names)})
    print(f"retrieval_pairs: stage I {report1['pairs']} pairs from {report1['chunks_used']} chunks "
          f"{report1['by_relation']}; stage II {report2['pairs']} pairs from {report2.get('generations', 0)} replies, "
          f"rejected {report2['rejected']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
