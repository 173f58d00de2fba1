"""clinsynth.kg: the medical knowledge graph (RDF/OBO files -> networkx) and the queries recipes use.

    from clinsynth.kg import load_graph, KnowledgeGraph
    kg = load_graph(["data/raw/kg/icd10cm.ttl", "my_terms.obo"])   # or KnowledgeGraph.load("data/kg/graph.json")
    kg.find("essential hypertension")        # ['ICD10CM:I10', ...]
    kg.symptoms_of("ICD10CM:I10"); kg.drugs_for("ICD10CM:I10"); kg.hypernyms("ICD10CM:I10", depth=2)

Formats, vocabulary and the graph contract: docs/kg.md.
"""

from clinsynth.kg.convert import GraphBuilder, KGSource, LoadReport, load_graph, to_networkx
from clinsynth.kg.graph import KnowledgeGraph
from clinsynth.kg.lineturtle import Lit, Triple
from clinsynth.kg.parse import KGFormatError, parse_graph, read_obo, read_triples

__all__ = [
    "GraphBuilder", "KGFormatError", "KGSource", "KnowledgeGraph", "Lit", "LoadReport", "Triple",
    "load_graph", "parse_graph", "read_obo", "read_triples", "to_networkx",
]
