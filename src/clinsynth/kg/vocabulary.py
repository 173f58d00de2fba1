"""The small RDF vocabulary clinsynth reads and writes, and IRI <-> CURIE mapping.

Every KG file, ours or a user's, is read as triples; each predicate is given one *role*:

| role | predicates (defaults) | becomes |
| --- | --- | --- |
| ``label`` | ``skos:prefLabel``, ``rdfs:label`` | node ``label`` (first seen wins; later ones become synonyms) |
| ``synonym`` | ``skos:altLabel``, ``oboInOwl:hasExactSynonym`` | node ``synonyms[]`` |
| ``type`` | ``rdf:type`` with object ``clinsynth:Disease`` / ``Symptom`` / ``Drug`` / ``Procedure`` / ``Group`` | node ``type`` |
| ``is_a`` | ``skos:broader``, ``rdfs:subClassOf`` | edge ``is_a`` (child -> parent) |
| ``has_symptom`` | ``clinsynth:hasSymptom`` | edge ``has_symptom`` (disease -> symptom) |
| ``treated_by`` | ``clinsynth:treatedBy`` | edge ``treated_by`` (disease -> drug) |
| ``related_to`` | ``clinsynth:relatedTo``, ``skos:related`` | edge ``related_to`` |
| ``same_as`` | ``owl:sameAs``, ``skos:exactMatch`` | edge ``same_as`` (cross-ontology link) |
| ``metadata`` | ``rdfs:comment``, ``skos:definition``, ``dcterms:*`` provenance, ... | counted, not kept |

Any other predicate is *unknown*: counted per predicate in ``metrics/kg.json``, never kept.
A user maps their own predicates onto these roles with ``kg.predicate_map`` in params.yaml.
"""

from __future__ import annotations

import re

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"
PROV = "http://www.w3.org/ns/prov#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OBO = "http://purl.obolibrary.org/obo/"
OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"
CLINSYNTH = "https://w3id.org/clinsynth/kg/vocab#"
CLINSYNTH_ID = "https://w3id.org/clinsynth/kg/id/"

# CURIE prefix -> IRI namespace. Order matters only for readability; lookups go longest-namespace first.
PREFIXES: dict[str, str] = {
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "skos": SKOS,
    "dcterms": DCTERMS,
    "prov": PROV,
    "xsd": XSD,
    "oboInOwl": OBO_IN_OWL,
    "clinsynth": CLINSYNTH,
    "CLINSYNTH": CLINSYNTH_ID,
    "ICD10CM": "http://purl.bioontology.org/ontology/ICD10CM/",
    "HP": OBO + "HP_",
    "MESH": "http://id.nlm.nih.gov/mesh/",
    "DRUGBANK": "https://go.drugbank.com/drugs/",
    "MEDLINEPLUS": "https://medlineplus.gov/druginfo/meds/",
}

RDF_TYPE = RDF + "type"
SKOS_PREF_LABEL = SKOS + "prefLabel"
SKOS_ALT_LABEL = SKOS + "altLabel"
SKOS_BROADER = SKOS + "broader"
SKOS_EXACT_MATCH = SKOS + "exactMatch"
SKOS_RELATED = SKOS + "related"
RDFS_LABEL = RDFS + "label"
RDFS_SUBCLASS_OF = RDFS + "subClassOf"
OWL_SAME_AS = OWL + "sameAs"
OWL_ONTOLOGY = OWL + "Ontology"
HAS_SYMPTOM = CLINSYNTH + "hasSymptom"
TREATED_BY = CLINSYNTH + "treatedBy"
RELATED_TO = CLINSYNTH + "relatedTo"

NODE_TYPES = ("Disease", "Symptom", "Drug", "Procedure", "Group")
TYPE_CLASSES = {CLINSYNTH + name: name for name in NODE_TYPES}
RELATIONS = ("is_a", "has_symptom", "treated_by", "related_to", "same_as")
ROLES = ("label", "synonym", "type", *RELATIONS, "metadata")

DEFAULT_PREDICATE_ROLES: dict[str, str] = {
    SKOS_PREF_LABEL: "label",
    RDFS_LABEL: "label",
    SKOS_ALT_LABEL: "synonym",
    OBO_IN_OWL + "hasExactSynonym": "synonym",
    RDF_TYPE: "type",
    SKOS_BROADER: "is_a",
    RDFS_SUBCLASS_OF: "is_a",
    HAS_SYMPTOM: "has_symptom",
    TREATED_BY: "treated_by",
    RELATED_TO: "related_to",
    SKOS_RELATED: "related_to",
    OWL_SAME_AS: "same_as",
    SKOS_EXACT_MATCH: "same_as",
    # Known and deliberately not kept: descriptions and file-level provenance.
    RDFS + "comment": "metadata",
    SKOS + "definition": "metadata",
    SKOS + "notation": "metadata",
    SKOS + "inScheme": "metadata",
    SKOS + "note": "metadata",
    OBO + "IAO_0000115": "metadata",  # OBO definition
    OWL + "versionInfo": "metadata",
    DCTERMS + "source": "metadata",
    DCTERMS + "license": "metadata",
    DCTERMS + "title": "metadata",
    DCTERMS + "description": "metadata",
    DCTERMS + "created": "metadata",
    PROV + "wasDerivedFrom": "metadata",
}

_LOCAL_SAFE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?\Z")


def normalize_text(text: str) -> str:
    """The key ``find()`` matches on: case-folded, surrounding space stripped, inner runs of space -> one."""
    return " ".join(text.split()).casefold()


def expand(term: str, prefixes: dict[str, str] | None = None) -> str:
    """``skos:prefLabel`` -> full IRI when the prefix is known; anything else is returned unchanged."""
    prefix, sep, local = term.partition(":")
    namespace = (prefixes or PREFIXES).get(prefix) if sep else None
    return namespace + local if namespace is not None and not local.startswith("//") else term


class Compactor:
    """IRI -> CURIE with a memo (a KG repeats the same few hundred thousand IRIs).

    Known namespaces (PREFIXES plus any given) win, longest first; any OBO PURL
    ``http://purl.obolibrary.org/obo/XXX_123`` becomes ``XXX:123``; other IRIs stay whole.
    """

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        merged = {**PREFIXES, **(extra or {})}
        self._namespaces = sorted(((ns, p) for p, ns in merged.items()), key=lambda item: -len(item[0]))
        self._memo: dict[str, str] = {}

    def __call__(self, iri: str) -> str:
        curie = self._memo.get(iri)
        if curie is None:
            curie = self._memo[iri] = self._compact(iri)
        return curie

    def _compact(self, iri: str) -> str:
        for namespace, prefix in self._namespaces:
            if iri.startswith(namespace) and len(iri) > len(namespace):
                return f"{prefix}:{iri[len(namespace):]}"
        if iri.startswith(OBO):
            local = iri[len(OBO):]
            head, sep, tail = local.partition("_")
            if sep and head.isalnum() and tail:
                return f"{head}:{tail}"
        return iri


def turtle_term(iri: str, prefixes: dict[str, str]) -> str:
    """Write an IRI as a prefixed name when its local part needs no Turtle escape, else as ``<iri>``."""
    for prefix, namespace in prefixes.items():
        if iri.startswith(namespace) and _LOCAL_SAFE.match(iri, len(namespace)):
            return f"{prefix}:{iri[len(namespace):]}"
    return f"<{iri}>"


def curie_iri(curie: str) -> str:
    """``HP:0000118`` -> its IRI (the inverse of Compactor for our own prefixes)."""
    iri = expand(curie)
    if iri == curie:
        raise ValueError(f"{curie!r}: unknown CURIE prefix; expected one of {', '.join(sorted(PREFIXES))}")
    return iri
