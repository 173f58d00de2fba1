"""Meaning retention and invention per record, measured with the KG, and values that changed.

The clinical concepts of a text are the KG nodes whose label or synonym equals one of its word n-grams
(:meth:`KnowledgeGraph.find`, the project's one matcher; n up to ``max_words``, terms of at least
``min_chars`` characters, nodes of the configured ``types``). Per record, against its prompt:

- ``retained``: share of the *source* concepts (the prompt vars named in ``source_vars[recipe]``,
  params.yaml ``postprocess.fidelity.source_vars``: e.g. a source chunk, or a disease with its symptoms) that the output mentions; a concept counts as
  mentioned by any of its labels/synonyms or a ``same_as`` equivalent. None when the source has none;
- ``invented``: output concepts absent from *everything the prompt showed* (every string of its vars: the KG
  facts and any example note it showed), sorted ids;
- ``changed_values``: numbers in the output (measurements, doses, dates, ages: digit runs with ``.``,
  ``/``, ``:`` or ``-`` inside) that no prompt var contains, in order of first appearance.

Without a KG only ``changed_values`` is measured.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import Any

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import Fraction, NonNegativeInt, PositiveInt
from clinsynth.records import Generation, Prompt
from clinsynth.quality.summary import summarize

EDGE_PUNCT = ".,;:!?\"'[]{}*"  # stripped from token ends before lookup (parentheses kept: "(disorder)")
VALUE = re.compile(r"\d+(?:[.,/:-]\d+)*")


@dataclasses.dataclass(frozen=True)
class FidelityConfig:
    kg_concepts: bool = True  # link concepts to the KG (base.paths.kg_graph); false: changed values only
    types: list[str] = dataclasses.field(default_factory=lambda: ["Disease", "Symptom", "Drug", "Procedure"])
    max_words: PositiveInt = 6  # longest KG term (words) looked up
    min_chars: PositiveInt = 4  # shorter terms ("ED", "MS") are too ambiguous to link
    # recipe -> the prompt vars holding the source whose concepts should survive (params.yaml names them)
    source_vars: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    # gates; None: measured only (the default)
    min_retained: Fraction | None = None  # drop a record keeping a smaller share of its source concepts
    max_invented: NonNegativeInt | None = None  # drop a record inventing more concepts than this
    max_changed_values: NonNegativeInt | None = None  # drop a record with more changed values than this
    worst: NonNegativeInt = 10  # records listed in metrics fidelity.worst (lowest retention, most invented)


def strings_of(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (dict values, list items), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k in sorted(value):
            yield from strings_of(value[k])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_of(item)


class ConceptLinker:
    """Text -> the KG node ids it mentions (word n-grams looked up with :meth:`KnowledgeGraph.find`)."""

    def __init__(self, kg: KnowledgeGraph, cfg: FidelityConfig) -> None:
        self.kg, self.cfg, self.types = kg, cfg, set(cfg.types)
        self._cache: dict[str, list[str]] = {}

    def _find(self, term: str) -> list[str]:
        if term not in self._cache:
            self._cache[term] = [n for n in self.kg.find(term) if self.kg.node(n).get("type") in self.types]
        return self._cache[term]

    def concepts(self, text: str) -> set[str]:
        return set(self.mentions(text))

    def mentions(self, text: str) -> dict[str, str]:
        """Node ids whose label or synonym equals a run of up to ``max_words`` whitespace tokens (edge
        punctuation stripped, so "gingivitis," and "Gingivitis (disorder)." match their labels): ``{id: the
        first words that matched it}``."""
        words = [w.strip(EDGE_PUNCT) for w in text.split()]
        words = [w for w in words if w]
        found: dict[str, str] = {}
        for n in range(1, self.cfg.max_words + 1):
            for i in range(len(words) - n + 1):
                term = " ".join(words[i:i + n])
                if len(term) >= self.cfg.min_chars:
                    for node in self._find(term):
                        found.setdefault(node, term)
        return found

    def closure(self, nodes: set[str]) -> set[str]:
        """The nodes with their same_as equivalents: a mention of either is a mention of both."""
        return nodes | {e for n in nodes for e in self.kg.equivalents(n)}


def values(text: str) -> list[str]:
    """Numbers in the text, first appearance order, without trailing separators."""
    return list(dict.fromkeys(m.group(0) for m in VALUE.finditer(text)))


def measure_fidelity(text: str, prompt_vars: dict[str, Any], recipe: str, linker: ConceptLinker | None,
                     cfg: FidelityConfig) -> dict[str, Any]:
    """``{retained, source_concepts, retained_concepts, invented, invented_terms, changed_values}`` for one
    record (``invented_terms``: the output's words that named the invented concepts)."""
    shown = "\n".join(strings_of(prompt_vars))
    shown_values = set(values(shown))
    figures: dict[str, Any] = {"changed_values": [v for v in values(text) if v not in shown_values]}
    if linker is None:
        return figures
    source = "\n".join(s for var in cfg.source_vars.get(recipe, []) for s in strings_of(prompt_vars.get(var)))
    source_concepts = linker.concepts(source)
    said = linker.mentions(text)
    output = linker.closure(set(said))
    kept = sorted(c for c in source_concepts if linker.closure({c}) & output)
    shown_concepts = linker.closure(linker.concepts(shown) | source_concepts)
    figures.update({
        "retained": round(len(kept) / len(source_concepts), 4) if source_concepts else None,
        "source_concepts": sorted(source_concepts), "retained_concepts": kept,
        "invented": sorted(c for c in said if not linker.closure({c}) & shown_concepts)})
    figures["invented_terms"] = sorted({said[c] for c in figures["invented"]})
    return figures


def fidelity_reason(figures: dict[str, Any], cfg: FidelityConfig) -> tuple[str, str] | None:
    retained = figures.get("retained")
    if cfg.min_retained is not None and retained is not None and retained < cfg.min_retained:
        return "retention_low", (f"keeps {len(figures['retained_concepts'])} of {len(figures['source_concepts'])} "
                                 f"source concepts ({retained:.3f}) < min_retained {cfg.min_retained}")
    invented = figures.get("invented") or []
    if cfg.max_invented is not None and len(invented) > cfg.max_invented:
        return "invented_concepts", (f"{len(invented)} concepts absent from the prompt {invented} "
                                     f"> max_invented {cfg.max_invented}")
    changed = figures["changed_values"]
    if cfg.max_changed_values is not None and len(changed) > cfg.max_changed_values:
        return "changed_values", (f"{len(changed)} values absent from the prompt {changed} "
                                  f"> max_changed_values {cfg.max_changed_values}")
    return None


def _fidelity_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {"measured": len(rows),
           "changed_values": summarize([len(r["changed_values"]) for r in rows]),
           "with_changed_values": sum(1 for r in rows if r["changed_values"])}
    if rows and "invented" in rows[0]:
        retained = [r["retained"] for r in rows if r["retained"] is not None]
        out.update({"retained": summarize(retained), "without_source_concepts": len(rows) - len(retained),
                    "invented": summarize([len(r["invented"]) for r in rows]),
                    "with_invented": sum(1 for r in rows if r["invented"])})
    return out


def fidelity_metrics(gens: Sequence[Generation], prompt_of: dict[str, Prompt], fidelity: dict[str, dict[str, Any]],
                     linked: bool, cfg: FidelityConfig) -> dict[str, Any]:
    """Per corpus and per template: retained, invented and changed-value distributions; the worst records."""
    rows = [(g.id, prompt_of[g.prompt_id].template, fidelity[g.id]) for g in gens if g.id in fidelity]
    templates = sorted({t for _, t, _ in rows})

    def badness(row: tuple[str, str, dict[str, Any]]) -> tuple:
        f = row[2]
        retained = f.get("retained")
        return (-(len(f.get("invented") or []) + len(f["changed_values"])),
                retained if retained is not None else 1.0, row[0])

    text_of = {g.id: g.text for g in gens}
    worst = [{"id": i, "template": t, **f, "excerpt": text_of[i][:400]}
             for i, t, f in sorted(rows, key=badness)[:cfg.worst]]
    return {"kg_linked": linked, "types": list(cfg.types),
            "gates": {"min_retained": cfg.min_retained, "max_invented": cfg.max_invented,
                      "max_changed_values": cfg.max_changed_values},
            "corpus": _fidelity_summary([f for _, _, f in rows]),
            "templates": {t: _fidelity_summary([f for _, tt, f in rows if tt == t]) for t in templates},
            "worst": worst}
