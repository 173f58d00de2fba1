"""KG load throughput: parse + build of the default KG, reload of the stage output, query rates.

    python bench/kg.py [--selection full|demo] [--kg-dir DIR] [--skip-rdflib] [--queries 100000]

Issue targets (2 cores): full parse + build <= 30 s; reload <= 3 s; 100k symptoms_of / synonyms <= 1 s.
Prints wall and CPU seconds (the CPU figure is what to compare on a shared machine) and, in the same
run, rdflib's bare ``Graph.parse`` of the same files for the triples/s comparison.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import rdflib

from clinsynth.kg import KnowledgeGraph, load_graph
from clinsynth.kg.build import KGSelection, build_default_kg, write_kg_files

DEMO_CHAPTERS = ["1", "3", "4", "5", "6", "8", "9", "10", "11", "12", "13", "14", "18", "21", "22"]


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:7.2f} s wall {self.cpu:7.2f} s cpu"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--selection", choices=["full", "demo"], default="full")
    parser.add_argument("--kg-dir", type=Path, help="reuse KG files already written there (else build them)")
    parser.add_argument("--skip-rdflib", action="store_true", help="skip the bare rdflib Graph.parse comparison")
    parser.add_argument("--queries", type=int, default=100_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_kg_"))
    kg_dir = args.kg_dir or workdir / "kg"
    if args.kg_dir is None:
        selection = KGSelection() if args.selection == "full" else KGSelection(DEMO_CHAPTERS, "medlineplus")
        with Timer() as t:
            paths = write_kg_files(kg_dir, build_default_kg(selection))
        print(f"kg_build ({args.selection}): {t}")
    paths = sorted(kg_dir.glob("*.ttl"))
    size = sum(p.stat().st_size for p in paths) / 1e6

    with Timer() as t:
        kg = load_graph(paths)
    triples = kg.graph.graph["load_report"]["triples"]
    print(f"parse + build   : {t}  {triples} triples ({size:.0f} MB, {len(paths)} files) -> "
          f"{triples / t.wall:,.0f} triples/s wall, {triples / t.cpu:,.0f} triples/s cpu; "
          f"{kg.graph.number_of_nodes()} nodes, {kg.graph.number_of_edges()} edges   [target <= 30 s]")
    if not args.skip_rdflib:
        with Timer() as t:
            bare = sum(len(rdflib.Graph().parse(p, format="turtle")) for p in paths)
        print(f"rdflib parse    : {t}  {bare} triples -> {bare / t.wall:,.0f} triples/s wall, "
              f"{bare / t.cpu:,.0f} triples/s cpu (Graph.parse only, no networkx)")

    graph_path = workdir / "graph.json"
    with Timer() as t:
        kg.save(graph_path)
    print(f"save            : {t}  {graph_path.stat().st_size / 1e6:.0f} MB node-link JSON")
    with Timer() as t:
        kg = KnowledgeGraph.load(graph_path)
    print(f"reload          : {t}   [target <= 3 s]")

    rng = random.Random(0)
    diseases = sorted(kg.diseases_with_icd10())
    with_symptoms = [d for d in diseases if kg.symptoms_of(d)]
    # half on the diseases that have symptoms (what MedSyn asks), half on any ICD-10-CM disease
    sample = rng.choices(with_symptoms, k=args.queries // 2) + rng.choices(diseases, k=args.queries - args.queries // 2)
    rng.shuffle(sample)
    for name, query in (("symptoms_of", kg.symptoms_of), ("synonyms", kg.synonyms), ("find", None)):
        items = [kg.label(n) for n in sample] if name == "find" else sample
        query = query or kg.find
        with Timer() as t:
            hits = sum(1 for item in items if query(item))
        print(f"{len(items):,} {name:<11}: {t}  ({hits:,} non-empty)   [target <= 1 s]")


if __name__ == "__main__":
    main()
