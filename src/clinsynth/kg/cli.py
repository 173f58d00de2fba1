"""``clinsynth kg ...``: inspect a built KG (the node-link JSON the kg stage writes)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from clinsynth.kg.graph import KnowledgeGraph

app = typer.Typer(help="The medical knowledge graph: counts and look-ups.", no_args_is_help=True)

GRAPH_OPTION = typer.Option(None, "--graph", help="node-link JSON; default: base.paths.kg_graph in params.yaml")


def _open(graph: Path | None) -> KnowledgeGraph:
    if graph is None:
        from clinsynth.params import load_base

        graph = Path(load_base().paths.kg_graph)
    if not graph.exists():
        raise typer.BadParameter(f"{graph}: not found; run `dvc repro kg` first or pass --graph")
    return KnowledgeGraph.load(graph)


@app.command()
def stats(graph: Path = GRAPH_OPTION, as_json: bool = typer.Option(False, "--json", help="print the full JSON")) -> None:
    """Node counts by type, edge counts by relation, isolated nodes, dangling references, unknown predicates."""
    result = _open(graph).stats()
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    load = result["load"]
    typer.echo(f"nodes {result['nodes']}")
    for name, count in result["nodes_by_type"].items():
        typer.echo(f"  {name:<12} {count:>8}")
    typer.echo(f"edges {result['edges']}")
    for name, count in result["edges_by_relation"].items():
        typer.echo(f"  {name:<12} {count:>8}")
    typer.echo(f"isolated nodes {result['isolated_nodes']}")
    typer.echo(f"dangling references {result['dangling']['nodes']} {result['dangling']['edges_by_relation']}")
    if load:
        typer.echo(f"triples read {load['triples']} from {len(load['files'])} files; "
                   f"unknown predicates {load['unknown_predicate_triples']} {load['unknown_predicates']}; "
                   f"skipped {load['skipped']}")


@app.command()
def find(text: str, graph: Path = GRAPH_OPTION) -> None:
    """Exact label/synonym look-up (case- and whitespace-insensitive); prints id, type, label."""
    kg = _open(graph)
    hits = kg.find(text)
    for node in hits:
        record = kg.node(node)
        typer.echo(f"{node}\t{record['type']}\t{record['label']}")
    if not hits:
        typer.echo(f"no node labelled {text!r}", err=True)
        raise typer.Exit(1)


@app.command()
def show(node: str, graph: Path = GRAPH_OPTION) -> None:
    """A node with its synonyms, hypernyms, symptoms, drugs, related and same_as neighbours."""
    kg = _open(graph)
    try:
        record = kg.node(node)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    record.update(hypernyms=kg.hypernyms(node, depth=None), symptoms=kg.symptoms_of(node), drugs=kg.drugs_for(node),
                  related=kg.related(node), same_as=kg.equivalents(node), all_synonyms=kg.synonyms(node))
    typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
