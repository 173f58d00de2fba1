"""Stage kg: the KG files named in params (RDF in any rdflib syntax, OBO) -> node-link JSON + metrics."""

from __future__ import annotations

import time
from pathlib import Path

from clinsynth.kg.convert import KGConfig, load_graph
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json


def main() -> None:
    base = load_base()
    cfg = load_params("kg", KGConfig)
    start = time.perf_counter()
    kg = load_graph(cfg.sources, cfg.predicate_map, cfg.type_map, cfg.prefixes, cfg.languages, cfg.fast_path,
                    allow_remote_context=cfg.allow_remote_context)
    load_s = time.perf_counter() - start
    kg.save(base.paths.kg_graph)
    stats = kg.stats()
    write_json(Path(base.paths.metrics) / "kg.json", stats)
    # Wall-clock figures change every run: kept out of git and DVC (docs/kg.md).
    triples = stats["load"]["triples"]
    write_json(Path(base.paths.metrics) / "timing" / "kg.json",
               {"load_s": round(load_s, 3), "triples": triples, "triples_per_s": round(triples / load_s)})
    print(f"kg: {triples} triples from {len(cfg.sources)} files in {load_s:.1f} s -> {stats['nodes']} nodes "
          f"{stats['nodes_by_type']}, {stats['edges']} edges {stats['edges_by_relation']}; "
          f"{stats['load']['unknown_predicate_triples']} triples with unknown predicates, "
          f"{stats['dangling']['nodes']} dangling references, {stats['isolated_nodes']} isolated nodes")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
