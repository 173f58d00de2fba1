"""Recipe ``kg_notes`` (MedSyn): a new note for an ICD-10 code, from the KG's symptoms and a real example.

Each prompt is one *draw*: a code (log-weighted by its train frequency, or from an explicit target list),
the disease name, ``k`` symptoms from the KG (k uniform in [min, max]; weights softmax(tf-idf / T); a
share phrased by a KG synonym), optionally drugs, and one real train note with the same code as an
example (or none). Every draw is rendered under every template of ``sample.kg_notes.templates``
(``kg_notes.baseline.v1``: disease name only; ``kg_notes.full.v1``: symptoms + example), so templates
are compared on the same draws. Formulas and the code -> KG node walk: :mod:`.kg_notes_sampling`,
docs/kg_notes.md.

The engine's ``read_sources`` returns records prompts are built from; a kg_notes prompt is *drawn*, so
the one record returned is the pool it is drawn from (:class:`DrawPool`: the notes and the KG), and
``select_sources`` makes the draws (pure, seeded).

Fidelity: :func:`check_kg_notes` (the recipe's ``CHECK``, run by postprocess@kg_notes) gives each record its
symptom usage ratio (share of the prompt's symptoms mentioned, by label or any KG synonym).

KG-guided note prompts (MedSyn): which ICD-10 codes to write about, and which symptoms to give.

Pure functions over plain data and a :class:`~clinsynth.kg.KnowledgeGraph`; randomness comes in as a
``random.Random``. The formulas (also in docs/kg_notes.md):

**Code weights.** ``f(c)`` = number of train notes labelled with code ``c`` (a note with two codes counts
for both). ``weighting``:
  ``log``        p(c) = ln(1 + f(c)) / sum_c' ln(1 + f(c'))   (MedSyn: rare codes are not starved;
                 p(c) / (f(c)/F) falls as f grows, so rare codes are drawn relatively more often)
  ``frequency``  p(c) = f(c) / sum f          ``uniform``  p(c) = 1 / |codes|
Codes with f = 0 (an explicit target never seen in train) get weight ln(1 + 0) = 0 under ``log``, so an
explicit target list is drawn *uniformly* (the "upsample these rare codes" use): every listed code is
equally wanted, whatever its frequency.

**Symptom weights.** The KG's disease -> symptom table: rows = ICD-10-CM Disease nodes with at least one
symptom (``symptoms_of``, which also reads same_as neighbours), N rows. tf(s, d) = 1 (the table is binary),
idf(s) = ln(N / df(s)) with df(s) = rows listing s. For one disease, p(s) = softmax(idf(s) / T) over its
symptoms: with T -> 0 the most specific symptom always wins, with T -> inf the draw is uniform; a symptom
listed under every disease (idf 0) keeps weight exp(0) = 1 against exp(ln(N/df)/T) = (N/df)^(1/T).

**Code -> KG node -> symptoms.** ``ICD10CM:<code>`` first (with its same_as neighbours). When it has no
symptoms: its descendants (is_a children, grandchildren, ... nearest level first); then its ancestors
(nearest first, never a ``Group`` chapter/block); then the descendants of those ancestors (siblings,
cousins: the ancestor's other sub-codes). Ancestors are the code's ICD-10-CM ancestors, then those of its
same_as twins in MeSH/HPO (M16 Osteoarthritis of hip -> MeSH Osteoarthritis). The first level with any symptoms is used and its nodes' symptoms
are pooled. :func:`resolve_nodes` returns the nodes and how they were found (``self``, ``descendant``,
``ancestor``, ``relative``, ``none``, ``not_in_kg``), counted in the sample metrics.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from clinsynth.errors import InputError
from clinsynth.records import Rejection, read_jsonl
from clinsynth.kg import KnowledgeGraph
from clinsynth.params import Fraction, NonNegativeInt, Paths, PositiveFloat, PositiveInt
from clinsynth.quality.checks import CheckOutcome, RecipeCheck
from clinsynth.recipes.replies import screen_reply

ICD10CM = "ICD10CM:"
RESOLUTIONS = ("self", "descendant", "ancestor", "relative", "none", "not_in_kg")
_NON_WORD = re.compile(r"[^0-9a-z]+")


class SamplingError(InputError):
    """Settings or inputs that leave nothing to sample (no codes, unknown target, bad weights)."""


# ---- codes ------------------------------------------------------------------------------------------
def code_frequencies(notes: Iterable[Mapping[str, Any]], split: str = "train") -> dict[str, int]:
    """``{code: number of notes of split labelled with it}`` (``note.meta.icd10``), sorted by code."""
    counts: Counter[str] = Counter()
    for note in notes:
        if note["split"] == split:
            counts.update(set(note["meta"].get("icd10") or ()))
    return dict(sorted(counts.items()))


def code_weights(freqs: Mapping[str, int], weighting: Literal["log", "frequency", "uniform"]) -> dict[str, float]:
    """Normalised draw probabilities for the codes of ``freqs`` (see the module docstring)."""
    if not freqs:
        raise SamplingError("no codes to draw: no train note carries meta.icd10 (and no explicit targets). kg_notes needs "
                            "notes with ICD-10-CM codes: add them (meta.icd10, or an ICD10 column), or switch kg_notes "
                            "off (`clinsynth recipes --off kg_notes`) and run `clinsynth run`")
    if weighting == "log":
        raw = {c: math.log1p(f) for c, f in freqs.items()}
    elif weighting == "frequency":
        raw = {c: float(f) for c, f in freqs.items()}
    elif weighting == "uniform":
        raw = {c: 1.0 for c in freqs}
    else:
        raise SamplingError(f"weighting {weighting!r}: expected one of log, frequency, uniform")
    total = sum(raw.values())
    if total <= 0:
        raise SamplingError(f"all {len(raw)} codes have weight 0 under {weighting!r} (f = 0 everywhere)")
    return {c: w / total for c, w in sorted(raw.items())}


def target_weights(freqs: Mapping[str, int], targets: str | Sequence[str], weighting: str,
                   rare_max_train_notes: int) -> dict[str, float]:
    """Draw probabilities: ``all`` codes by ``weighting``; ``rare`` codes (1..rare_max train notes) or an
    explicit list, uniformly."""
    if targets == "all":
        return code_weights(freqs, weighting)  # type: ignore[arg-type]
    if targets == "rare":
        chosen = [c for c, f in freqs.items() if f <= rare_max_train_notes]
    elif isinstance(targets, str):
        raise SamplingError(f"targets {targets!r}: expected 'all', 'rare' or a list of ICD-10-CM codes")
    else:
        chosen = list(dict.fromkeys(targets))
    if not chosen:
        raise SamplingError(f"targets {targets!r} selects no code (rare_max_train_notes={rare_max_train_notes})")
    return {c: 1.0 / len(chosen) for c in sorted(chosen)}


def draw_codes(weights: Mapping[str, float], n: int, rng: random.Random) -> list[str]:
    """``n`` codes drawn with replacement by ``weights`` (order of draws kept)."""
    codes = sorted(weights)
    return rng.choices(codes, weights=[weights[c] for c in codes], k=n)


# ---- the KG's disease -> symptom table --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SymptomTable:
    idf: dict[str, float]  # symptom id -> ln(N / df)
    n_diseases: int


def build_symptom_table(rows: Mapping[str, Sequence[str]]) -> SymptomTable:
    """idf over ``{disease: [symptom ids]}`` rows (diseases without symptoms are left out of N)."""
    rows = {d: set(s) for d, s in rows.items() if s}
    df: Counter[str] = Counter(s for symptoms in rows.values() for s in symptoms)
    n = len(rows)
    return SymptomTable({s: math.log(n / k) for s, k in sorted(df.items())}, n)


def kg_symptom_rows(kg: KnowledgeGraph) -> dict[str, list[str]]:
    """The table's rows: every ICD-10-CM Disease node with symptoms (MeSH/HPO twins are not rows twice)."""
    return {d: found for d in kg.diseases_with_icd10() if (found := kg.symptoms_of(d))}


def symptom_weights(symptoms: Sequence[str], table: SymptomTable, temperature: float) -> dict[str, float]:
    """softmax(idf / T) over ``symptoms``; a symptom unknown to the table gets the largest idf, ln(N)."""
    if temperature <= 0:
        raise SamplingError(f"symptom temperature {temperature}: expected > 0")
    if not symptoms:
        return {}
    unknown_idf = math.log(max(table.n_diseases, 1))
    scores = {s: table.idf.get(s, unknown_idf) / temperature for s in sorted(set(symptoms))}
    top = max(scores.values())
    exp = {s: math.exp(v - top) for s, v in scores.items()}
    total = sum(exp.values())
    return {s: v / total for s, v in exp.items()}


def weighted_sample(weights: Mapping[str, float], k: int, rng: random.Random) -> list[str]:
    """``k`` distinct keys, each draw by the remaining weights (renormalised); order of draws kept."""
    pool = dict(sorted(weights.items()))
    chosen = []
    for _ in range(min(k, len(pool))):
        keys = list(pool)
        pick = rng.choices(keys, weights=[pool[x] for x in keys], k=1)[0]
        chosen.append(pick)
        del pool[pick]
    return chosen


def draw_count(max_items: int, min_items: int, rng: random.Random) -> int:
    """MedSyn: how many symptoms to ask for, uniform in [min_items, max_items]."""
    if not 0 <= min_items <= max_items:
        raise SamplingError(f"symptom counts min {min_items}, max {max_items}: expected 0 <= min <= max")
    return rng.randint(min_items, max_items)


# ---- code -> nodes ----------------------------------------------------------------------------------
def _children(kg: KnowledgeGraph, node: str) -> list[str]:
    return sorted(src for src, keys in kg.graph.pred[node].items() if "is_a" in keys)


def _descendant_levels(kg: KnowledgeGraph, node: str, depth: int) -> list[list[str]]:
    levels, frontier, seen = [], [node], {node}
    for _ in range(depth):
        frontier = sorted({c for n in frontier for c in _children(kg, n) if c not in seen})
        if not frontier:
            break
        seen.update(frontier)
        levels.append(frontier)
    return levels


def resolve_nodes(kg: KnowledgeGraph, code: str, query: Callable[[str], list[str]], max_up: int = 2,
                  max_down: int = 2) -> tuple[list[str], str]:
    """The KG nodes whose ``query`` answers (symptoms_of, drugs_for) stand for ``code``, and how found."""
    node = ICD10CM + code
    if node not in kg.graph:
        return [], "not_in_kg"
    if query(node):
        return [node], "self"
    for level in _descendant_levels(kg, node, max_down):
        if hits := [n for n in level if query(n)]:
            return hits, "descendant"
    # ICD-10-CM ancestors first, then those of the node's same_as twins (MeSH/HPO hierarchies), nearest first
    ancestors = [a for a in kg.hypernyms(node, depth=max_up) if kg.node(a)["type"] != "Group"]
    for twin in kg.equivalents(node):
        ancestors += [a for a in kg.hypernyms(twin, depth=max_up) if a not in ancestors and a != node]
    if hits := [a for a in ancestors if query(a)]:
        return hits[:1], "ancestor"
    for ancestor in ancestors:
        for level in _descendant_levels(kg, ancestor, max_down):
            if hits := [n for n in level if n != node and query(n)]:
                return hits, "relative"
    return [], "none"


# ---- surface forms ----------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """Lower-case, every run of non-alphanumerics -> one space, padded with spaces (for phrase search)."""
    return " " + " ".join(_NON_WORD.sub(" ", text.lower()).split()) + " "


def usable_synonyms(label: str, synonyms: Sequence[str], max_words: int) -> list[str]:
    """Synonyms a writer would use: at most ``max_words`` words, no digits/brackets/commas, not the label."""
    seen, out = {normalize(label)}, []
    for s in synonyms:
        key = normalize(s)
        if key in seen or len(s.split()) > max_words or re.search(r"[0-9()\[\],;]", s):
            continue
        seen.add(key)
        out.append(s)
    return out


def symptom_record(kg: KnowledgeGraph, symptom: str, synonym_rate: float, max_words: int,
                   rng: random.Random) -> dict[str, Any]:
    """``{"id", "label", "text", "variants"}``: ``text`` is the label, or with probability ``synonym_rate``
    one of its usable KG synonyms; ``variants`` (label + every synonym) is what counts as a mention."""
    label = kg.label(symptom) or symptom
    synonyms = kg.synonyms(symptom)
    usable = usable_synonyms(label, synonyms, max_words)
    use_synonym = rng.random() < synonym_rate
    text = rng.choice(usable) if use_synonym and usable else label
    variants = list(dict.fromkeys([label, *synonyms]))
    return {"id": symptom, "label": label, "text": text, "variants": variants}


# ---- fidelity ---------------------------------------------------------------------------------------
def mentions(text: str, variants: Sequence[str]) -> bool:
    """True when any variant occurs in ``text`` as a whole phrase (case and punctuation ignored)."""
    haystack = normalize(text)
    return any(len(key := normalize(v)) > 2 and key in haystack for v in variants)


def symptom_usage(text: str, symptoms: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of the prompt's symptoms mentioned in ``text`` by any variant (label or KG synonym);
    None when the prompt had no symptoms."""
    if not symptoms:
        return None
    hits = sum(mentions(text, [s["text"], *s.get("variants", ())]) for s in symptoms)
    return hits / len(symptoms)


# ---- the recipe --------------------------------------------------------------------------------------
NAME = "kg_notes"
_DISPLAY_TAG = re.compile(r"\s*\((?:disorder|finding|situation|procedure|morphologic abnormality)\)\s*$")


@dataclasses.dataclass(frozen=True)
class SymptomConfig:
    min: PositiveInt = 1  # k is uniform in [min, max] (MedSyn: a random count up to a maximum)
    max: PositiveInt = 5
    temperature: PositiveFloat = 1.0  # softmax(idf / T)
    synonym_rate: Fraction = 0.3  # share of symptoms phrased by a KG synonym instead of the label
    max_synonym_words: PositiveInt = 4  # longer synonyms are matched in replies but never put in a prompt


@dataclasses.dataclass(frozen=True)
class ResolveConfig:
    max_up: NonNegativeInt = 2  # ancestor levels walked when the code's node has no symptoms
    max_down: NonNegativeInt = 2  # descendant levels walked (of the node, then of each ancestor)


@dataclasses.dataclass(frozen=True)
class UpsampleConfig:
    """A second set of draws on top of the main one (the "real + synthetic (upsampled rare codes)" arm):
    its own targets (``rare`` by default: uniform over codes with 1..rare_max_train_notes train notes),
    rendered only under ``templates``. Its draw ids are ``kg_notes-rare-draw-NNNNN``; each draw's
    ``vars.draw_set`` is ``upsample`` (the main set's is ``all``)."""

    n_prompts: NonNegativeInt = 0  # 0: no upsample draws
    targets: str | list[str] = "rare"
    templates: list[str] | None = None  # None: every template of the recipe


DRAW_SETS = ("all", "upsample")


def check_draw_sets(draw_sets: Sequence[str], where: str) -> None:
    """A corpus or stage that picks prompts by draw set names known ones (a typo would silently select nothing)."""
    unknown = sorted(set(draw_sets) - set(DRAW_SETS))
    if unknown or not draw_sets:
        raise SamplingError(f"params.yaml {where}: {list(draw_sets)}; expected a non-empty subset of {list(DRAW_SETS)}")


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """``params.yaml: sample.kg_notes``."""

    templates: list[str]
    n_prompts: NonNegativeInt  # draws; each is rendered under every template
    targets: str | list[str] = "all"  # all (weighted) | rare (uniform over rare codes) | [codes] (uniform)
    weighting: Literal["log", "frequency", "uniform"] = "log"
    rare_max_train_notes: NonNegativeInt = 5
    symptoms: SymptomConfig = SymptomConfig()
    resolve: ResolveConfig = ResolveConfig()
    max_drugs: NonNegativeInt = 0  # 0: no drugs in the prompt
    example: Literal["train_note", "none"] = "train_note"
    example_max_chars: PositiveInt = 1500  # the example is cut at the last line break before this
    split: str = "train"
    upsample: UpsampleConfig = UpsampleConfig()


@dataclasses.dataclass(frozen=True)
class DrawPool:
    notes: list[dict[str, Any]]
    kg: KnowledgeGraph


def read_sources(paths: Paths) -> list[DrawPool]:
    return [DrawPool(list(read_jsonl(paths.notes)), KnowledgeGraph.load(paths.kg_graph))]


def disease_name(code: str, kg: KnowledgeGraph, notes: Sequence[Mapping[str, Any]]) -> str:
    """The KG label of ``ICD10CM:<code>``, else the condition display of a note with that code, else the code."""
    node = ICD10CM + code
    if node in kg.graph and kg.label(node):
        return kg.label(node)
    for note in notes:
        for cond in note["meta"].get("conditions") or ():
            if cond.get("icd10") == code and cond.get("display"):
                return _DISPLAY_TAG.sub("", cond["display"])
    return code


def cut_example(text: str, max_chars: int) -> str:
    """``text`` up to the last line break before ``max_chars`` (whole text when it fits)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    return head[:head.rfind("\n")].rstrip() if "\n" in head else head


def draw_one(index: int, code: str, pool: DrawPool, table: SymptomTable, cfg: SampleConfig,
             by_code: Mapping[str, list[dict[str, Any]]], rng: random.Random,
             draw_set: str = "all") -> dict[str, Any]:
    """One draw: ``{"id", "vars", "source_ids"}`` (vars: code, disease, symptoms[], drugs[], example...)."""
    kg, sc = pool.kg, cfg.symptoms
    nodes, how = resolve_nodes(kg, code, kg.symptoms_of, cfg.resolve.max_up, cfg.resolve.max_down)
    candidates = sorted({s for n in nodes for s in kg.symptoms_of(n)})
    k = draw_count(sc.max, sc.min, rng)
    chosen = weighted_sample(symptom_weights(candidates, table, sc.temperature), k, rng)
    name = disease_name(code, kg, pool.notes)
    symptoms = [symptom_record(kg, s, sc.synonym_rate, sc.max_synonym_words, rng) for s in chosen]
    for symptom in symptoms:  # the disease's own name is no mention of a symptom (HPO "Depression" ~ MDD)
        symptom["variants"] = [v for v in symptom["variants"] if normalize(v) != normalize(name)]
    drugs: list[str] = []
    if cfg.max_drugs:
        drug_nodes, _ = resolve_nodes(kg, code, kg.drugs_for, cfg.resolve.max_up, cfg.resolve.max_down)
        found = sorted({d for n in drug_nodes for d in kg.drugs_for(n)})
        drugs = [kg.label(d) or d for d in rng.sample(found, min(cfg.max_drugs, len(found)))]
    examples = by_code.get(code, [])
    example = rng.choice(examples) if cfg.example == "train_note" and examples else None
    draw_id = f"kg_notes-{'rare-' if draw_set == 'upsample' else ''}draw-{index:05d}"
    source_ids = [draw_id, ICD10CM + code] + ([example["id"]] if example else [])
    return {"id": draw_id, "source_ids": source_ids, "vars": {
        "code": code, "disease": name, "symptoms": symptoms, "draw_set": draw_set,
        "symptom_source": how, "symptom_nodes": nodes, "drugs": drugs,
        "example": cut_example(example["text"], cfg.example_max_chars) if example else None,
        "example_id": example["id"] if example else None}}


def select_sources(records: Sequence[DrawPool], cfg: SampleConfig, seed: int) -> list[dict[str, Any]]:
    """``cfg.n_prompts`` draws (seeded), in draw order, then ``cfg.upsample.n_prompts`` upsample draws (their
    own generator, seeded alike, so adding them leaves the main draws unchanged); see the module docstring."""
    if len(records) != 1 or not isinstance(records[0], DrawPool):
        raise SamplingError(f"kg_notes draws from one DrawPool (notes + KG); got {len(records)} records")
    pool = records[0]
    freqs = code_frequencies(pool.notes, cfg.split)
    table = build_symptom_table(kg_symptom_rows(pool.kg))
    by_code: dict[str, list[dict[str, Any]]] = {}
    for note in sorted(pool.notes, key=lambda n: n["id"]):
        if note["split"] == cfg.split:
            for code in sorted(set(note["meta"].get("icd10") or ())):
                by_code.setdefault(code, []).append(note)
    unknown = sorted(set(cfg.upsample.templates or ()) - set(cfg.templates))
    if unknown:
        raise SamplingError(f"sample.kg_notes.upsample.templates {unknown}: not in sample.kg_notes.templates {cfg.templates}")
    draws = []
    for draw_set, n, targets in (("all", cfg.n_prompts, cfg.targets),
                                 ("upsample", cfg.upsample.n_prompts, cfg.upsample.targets)):
        if n <= 0 and draw_set == "upsample":
            continue
        rng = random.Random(seed)
        weights = target_weights(freqs, targets, cfg.weighting, cfg.rare_max_train_notes)
        codes = draw_codes(weights, n, rng)
        draws += [draw_one(i, code, pool, table, cfg, by_code, rng, draw_set) for i, code in enumerate(codes)]
    return draws


def templates_for(record: Mapping[str, Any], cfg: SampleConfig) -> Sequence[str] | None:
    """The templates a draw is rendered under: upsample draws only under ``upsample.templates``."""
    if record["vars"].get("draw_set") == "upsample":
        return cfg.upsample.templates
    return None


def build_vars(record: Mapping[str, Any]) -> dict[str, Any]:
    return dict(record["vars"])


def source_ids(record: Mapping[str, Any]) -> Sequence[str]:
    return tuple(record["source_ids"])


def parse_completion(text: str, prompt: Mapping[str, Any]) -> dict[str, Any] | Rejection:
    """The note text, stripped; ``empty`` and ``refusal`` replies are rejected (fidelity and copying of the
    example are measured later, on every kept reply)."""
    cleaned = screen_reply(text, prompt["id"])
    if isinstance(cleaned, Rejection):
        return cleaned
    return {"text": cleaned}


@dataclasses.dataclass(frozen=True)
class KgNotesCheckConfig:
    min_symptom_usage: Fraction = 0.0  # drop a note using a smaller share of its prompt's symptoms (0: measure only)


def check_kg_notes(prompt: Any, generation: Any, cfg: KgNotesCheckConfig) -> CheckOutcome:
    """Symptom usage ratio of the note (prompts without symptoms: no usage figure, never dropped) and
    ``disease_used`` (1.0 when the note names the prompt's disease, 0.0 when not; measured only)."""
    figures: dict[str, float] = {}
    if prompt.vars.get("disease"):
        figures["disease_used"] = float(mentions(generation.text, [prompt.vars["disease"]]))
    usage = symptom_usage(generation.text, prompt.vars.get("symptoms") or [])
    if usage is None:
        return CheckOutcome(figures)
    figures["symptom_usage"] = usage
    if usage < cfg.min_symptom_usage:
        return CheckOutcome(figures, "symptom_usage_low",
                            f"{usage:.2f} of {len(prompt.vars['symptoms'])} symptoms < min {cfg.min_symptom_usage}")
    return CheckOutcome(figures)


CHECK = RecipeCheck(KgNotesCheckConfig, check_kg_notes)
