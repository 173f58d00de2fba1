"""KG expansions shared by training pairs and evaluation queries.

* ``concepts``: what a text is *about* for relevance: the nodes it names, their ``same_as``
  equivalents, and their ``is_a`` ancestors up to ``depth`` (never descendants: DR.EHR counts a
  note about "hypertension" as relevant to "cardiovascular disease", not to "essential hypertension").
* clean names: labels and synonyms usable as query text. ICD-10-CM grouping labels ("Other acute
  lower respiratory infections (J20-J22)"), "unspecified"/"NOS" variants, inverted MeSH entry terms
  ("hypertension, essential") and bare phenotype roots ("Abnormality of ...") read like nothing a
  clinician types and are dropped (``ExpansionConfig.exclude_pattern``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Sequence

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import Fraction, NonNegativeInt
from clinsynth.retrieval.abbreviations import name_key

DEFAULT_EXCLUDE = (r"[,()\[\]]|\b(unspecified|nos|other|abnormal|abnormality|phenotypic|finding|findings|"
                   r"signs and symptoms|diseases of|disorders of|not elsewhere|process|processes|pathologic|"
                   r"manifestations|conditions|chapter)\b")


@dataclasses.dataclass(frozen=True)
class ExpansionConfig:
    hypernym_depth: NonNegativeInt = 2  # is_a hops counted as hypernyms (and as "about" for relevance)
    exclude_pattern: str = DEFAULT_EXCLUDE  # names matching it (case-insensitive) are never used as query text
    max_similarity: Fraction = 0.7  # a synonym this close in spelling to the entity (difflib ratio) is a variant, not a synonym


def is_clean_name(text: str, cfg: ExpansionConfig) -> bool:
    return bool(name_key(text)) and re.search(cfg.exclude_pattern, text, re.IGNORECASE) is None


def closure(kg: KnowledgeGraph, nodes: Iterable[str]) -> set[str]:
    """The nodes and their ``same_as`` equivalents (one hop, both directions)."""
    found: set[str] = set()
    for node in nodes:
        found.add(node)
        found.update(kg.equivalents(node))
    return found


def concepts(kg: KnowledgeGraph, nodes: Iterable[str], depth: int) -> set[str]:
    """:func:`closure` plus every ``is_a`` ancestor up to ``depth`` hops of each node in it."""
    found = closure(kg, nodes)
    for node in list(found):
        found.update(kg.hypernyms(node, depth))
    return found


def names_of(kg: KnowledgeGraph, node: str) -> list[str]:
    """Label then own synonyms (no ``same_as`` merging: cross-ontology links carry noisy entry terms)."""
    attrs = kg.node(node)
    return [t for t in (attrs["label"], *attrs["synonyms"]) if t]


def synonym_candidates(kg: KnowledgeGraph, nodes: Sequence[str], entity: str, cfg: ExpansionConfig) -> list[str]:
    """Clean names of ``nodes`` that word the entity differently (not a spelling variant of it), sorted.

    "Middle ear infection" for "Otitis media", "Zocor" for "simvastatin"; not "Otitis media,
    unspecified" (contains the entity), "simvastatina" (a variant) or "hyperlipidemias" (a plural).
    """
    entity_key = name_key(entity)
    entity_words = {_singular(w) for w in entity_key.split()}
    found: dict[str, str] = {}
    for node in nodes:
        for text in names_of(kg, node):
            key = name_key(text)
            if (not is_clean_name(text, cfg) or key == entity_key or entity_key in key
                    or {_singular(w) for w in key.split()} == entity_words
                    or difflib.SequenceMatcher(None, key, entity_key).ratio() >= cfg.max_similarity):
                continue
            found.setdefault(key, text)
    return [found[k] for k in sorted(found)]


def hypernym_candidates(kg: KnowledgeGraph, nodes: Sequence[str], entity: str,
                        cfg: ExpansionConfig) -> list[tuple[int, str, str]]:
    """``(depth, node, label)`` of clean ``is_a`` ancestors of ``nodes``, nearest first, each name once."""
    own = {name_key(t) for node in nodes for t in names_of(kg, node)} | {name_key(entity)}
    found: dict[str, tuple[int, str, str]] = {}
    for node in nodes:
        for depth in range(1, cfg.hypernym_depth + 1):
            layer = set(kg.hypernyms(node, depth)) - set(kg.hypernyms(node, depth - 1))
            for parent in sorted(layer):
                label = kg.label(parent)
                attrs = kg.node(parent)
                if not label or attrs["type"] == "Group" or not is_clean_name(label, cfg):
                    continue
                key = name_key(label)
                if key in own:
                    continue
                if key not in found or found[key][0] > depth:
                    found[key] = (depth, parent, label)
    return sorted(found.values())


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
