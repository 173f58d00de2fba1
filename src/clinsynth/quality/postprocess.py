"""The postprocess@R gates: generations in, kept and dropped synthetic records plus metrics out.

Order, each step only on the records that survived the previous ones (generations sorted by id, so the
result does not depend on file order):

0. degeneracy (:mod:`clinsynth.quality.degeneracy`): strip a preamble, a sign-off and code fences (counted),
   drop repetitive, wrong-language and chatter-only replies;
1. recipe check (:mod:`clinsynth.quality.checks`), if the recipe registered one;
2. leakage against every *train* note (one :class:`NgramIndex`): dropped when ``longest_span > max_span``
   or ``overlap > max_overlap``. Fidelity (:mod:`clinsynth.quality.fidelity`: KG concepts retained and
   invented, changed values) is measured on every record that passed step 1, gated only where params say so. Leakage against the record's own prompted source notes (resolved from the
   prompt's ``source_ids``: note ids or chunk ids ``<note_id>:<k>``) is measured and reported apart;
3. exact, then near-duplicates (:mod:`clinsynth.quality.dedup`);
4. on the kept records: diversity and the membership audit.

Fractions in the metrics are of the generations read (``counts.generations``). Metrics hold no timings
(they must be identical run to run); :attr:`PostprocessResult.timings` has them.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from clinsynth.corpus import Note
from clinsynth.kg import KnowledgeGraph
from clinsynth.params import Fraction, NonNegativeFloat, NonNegativeInt, PositiveInt, from_mapping
from clinsynth.quality.checks import CheckOutcome, RecipeCheck
from clinsynth.quality.dedup import DedupConfig, find_duplicates
from clinsynth.quality.degeneracy import DegeneracyConfig, screen_degenerate
from clinsynth.quality.diversity import measure_diversity
from clinsynth.quality.fidelity import (ConceptLinker, FidelityConfig, fidelity_metrics, fidelity_reason,
                                        measure_fidelity, strings_of)
from clinsynth.quality.gates import LIMIT_METRICS, evaluate_limits, resolve_limits
from clinsynth.quality.inputs import QualityInputError, note_of_source, synthetic_text
from clinsynth.quality.leakage import Leakage, NgramIndex
from clinsynth.quality.membership import MembershipConfig, membership_audit
from clinsynth.quality.summary import round_floats, summarize
from clinsynth.records import DroppedRecord, Generation, Prompt, Rejection, SyntheticRecord


@dataclasses.dataclass(frozen=True)
class LeakageConfig:
    ngram: PositiveInt = 8  # shortest verbatim span (tokens) the index sees
    max_span: NonNegativeInt = 24  # drop a record sharing a verbatim span longer than this with any train note
    max_overlap: Fraction = 0.5  # drop a record whose share of n-grams found in train notes is above this
    span_edges: list[int] = dataclasses.field(default_factory=lambda: [0, 8, 16, 24, 32, 64])
    overlap_edges: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.05, 0.1, 0.25, 0.5, 0.75])


@dataclasses.dataclass(frozen=True)
class DiversityConfig:
    self_bleu_sample: PositiveInt = 500
    max_order: PositiveInt = 4


@dataclasses.dataclass(frozen=True)
class RecipeParams:
    check: dict[str, Any] = dataclasses.field(default_factory=dict)  # the recipe check's settings
    limits: dict[str, float | None] = dataclasses.field(default_factory=dict)  # overrides of postprocess.<limit>
    text: str = "text"  # the gated text: "text" (the raw reply) or "parsed.<key>" (a field the recipe's parser wrote)


@dataclasses.dataclass(frozen=True)
class CardConfig:
    """The Hugging Face front matter of ``CARD.md`` (see :mod:`clinsynth.quality.card`)."""

    license: str = "other"  # a Hub license id; a corpus carries its source notes' terms, so yours decide it
    task_categories: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # by recipe (Hub task ids)


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    synthetic_dir: str  # data/synthetic: the stage writes <synthetic_dir>/<recipe>/
    leakage: LeakageConfig
    dedup: DedupConfig
    diversity: DiversityConfig
    membership: MembershipConfig
    recipes: dict[str, RecipeParams]  # keyed by corpus
    degeneracy: DegeneracyConfig = dataclasses.field(default_factory=DegeneracyConfig)
    fidelity: FidelityConfig = dataclasses.field(default_factory=FidelityConfig)
    # corpus -> the recipe whose prompts it answers (the postprocess@<corpus> items; a corpus is one
    # generations file, data/generations/<corpus>.jsonl: a second generator's corpus answers the same prompts)
    corpora: dict[str, str] = dataclasses.field(default_factory=dict)
    card: CardConfig = dataclasses.field(default_factory=CardConfig)
    parquet: bool = False  # also write <corpus>/parquet/records.parquet (the folder is always written, empty when off)
    # hard limits (see clinsynth.quality.gates.LIMIT_METRICS); None disables one
    max_degenerate_fraction: Fraction | None = 0.5
    max_check_dropped_fraction: Fraction | None = 0.5
    max_dropped_fraction: Fraction | None = 0.5
    max_duplicate_fraction: Fraction | None = 0.5
    min_kept_fraction: Fraction | None = 0.25
    min_distinct_2: Fraction | None = None
    max_self_bleu: Fraction | None = None
    min_distinct_2_ratio: NonNegativeFloat | None = 0.5
    max_self_bleu_gap: float | None = 0.2
    max_membership_auc: Fraction | None = None


@dataclasses.dataclass(frozen=True)
class PostprocessResult:
    kept: list[SyntheticRecord]
    dropped: list[DroppedRecord]
    metrics: dict[str, Any]  # rounded to 4 decimals
    failures: list[str]  # crossed hard limits, one message each
    timings: dict[str, float]  # seconds per step


def _join(recipe: str, prompts: Sequence[Prompt], generations: Sequence[Generation]) -> dict[str, Prompt]:
    by_id = {p.id: p for p in prompts}
    wrong = [p for p in prompts if p.recipe != recipe]
    if wrong:
        raise QualityInputError(f"prompt {wrong[0].id!r} has recipe {wrong[0].recipe!r}; expected {recipe!r}")
    seen: set[str] = set()
    for g in generations:
        if g.prompt_id not in by_id:
            raise QualityInputError(f"generation {g.id!r}: prompt_id {g.prompt_id!r} is not among the "
                                    f"{len(by_id)} prompts; generations and prompts are out of step (rerun generate@{recipe})")
        if g.id in seen:
            raise QualityInputError(f"generation id {g.id!r} appears twice; ids must be unique")
        seen.add(g.id)
    return by_id


def _leak_figures(train: Leakage, source: Leakage | None) -> dict[str, Any]:
    return {"train_longest_span": train.longest_span, "train_overlap": round(train.overlap, 4),
            "source_longest_span": source.longest_span if source else None,
            "source_overlap": round(source.overlap, 4) if source else None}


class _SourceLeakage:
    """Leakage against a prompt's own source notes; one small index per distinct set of notes."""

    def __init__(self, notes: dict[str, Note], n: int) -> None:
        self.notes, self.n, self._indexes = notes, n, {}

    def sources(self, prompt: Prompt) -> list[Note]:
        found = {note.id: note for s in prompt.source_ids if (note := note_of_source(s, self.notes))}
        return [found[k] for k in sorted(found)]

    def measure(self, prompt: Prompt, text: str) -> Leakage | None:
        sources = self.sources(prompt)
        if not sources:
            return None
        key = tuple(n.id for n in sources)
        if key not in self._indexes:
            self._indexes[key] = NgramIndex(self.n).add(n.text for n in sources)
        return self._indexes[key].measure(text)


def _leak_reason(leak: Leakage, cfg: LeakageConfig) -> tuple[str, str] | None:
    if leak.longest_span > cfg.max_span:
        return "leakage_span", (f"shares a verbatim span of {leak.longest_span} tokens with a train note "
                                f"> max_span {cfg.max_span} (overlap {leak.overlap:.3f})")
    if leak.overlap > cfg.max_overlap:
        return "leakage_overlap", (f"{leak.overlap:.3f} of its {cfg.ngram}-grams occur in train notes "
                                   f"> max_overlap {cfg.max_overlap} (longest span {leak.longest_span})")
    return None


def postprocess(recipe: str, prompts: Sequence[Prompt], generations: Sequence[Generation],
                rejections: Sequence[Rejection], notes: Sequence[Note], cfg: PostprocessConfig, seed: int,
                progress: bool = False, corpus: str | None = None,
                kg: KnowledgeGraph | None = None, check: RecipeCheck | None = None) -> PostprocessResult:
    """Run the gates of one recipe's corpus; see the module docstring for the order and the figures.

    ``corpus`` names the generations when they are not the recipe's own (default: ``recipe``): its settings
    are ``cfg.recipes[corpus]`` and its limits are reported as ``quality_<corpus>``. ``kg``: the graph the
    fidelity figures link concepts to (None: changed values only). ``check``: the recipe's own record check
    (its module's ``CHECK``), run after the degeneracy screen; None: the shared gates only."""
    corpus = corpus or recipe
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    prompt_of = _join(recipe, prompts, generations)
    params = cfg.recipes.get(corpus, RecipeParams())
    gens = sorted((dataclasses.replace(g, text=synthetic_text(g, params.text)) for g in generations),
                  key=lambda g: g.id)
    limits = resolve_limits({k: getattr(cfg, k) for k in LIMIT_METRICS}, params.limits, corpus)
    check_cfg = from_mapping(check.config, params.check, f"params.yaml: postprocess.recipes.{corpus}.check") \
        if check else None
    if params.check and not check:
        raise QualityInputError(f"params.yaml: postprocess.recipes.{corpus}.check is set but recipe {recipe!r} "
                                f"has no record check; remove the 'check:' block")

    by_id = {n.id: n for n in notes}
    source_leak = _SourceLeakage(by_id, cfg.leakage.ngram)
    linker = ConceptLinker(kg, cfg.fidelity) if kg is not None and cfg.fidelity.kg_concepts else None
    dropped: list[DroppedRecord] = []
    survivors: list[tuple[Generation, CheckOutcome]] = []
    strips: dict[str, list[str]] = {}
    fidelity: dict[str, dict[str, Any]] = {}
    degenerate: list[DroppedRecord] = []
    for g in gens:
        p = prompt_of[g.prompt_id]
        screened = screen_degenerate(g.text, _source_text(p, source_leak), cfg.degeneracy)
        figures = round_floats(screened.figures)
        if screened.reason:
            degenerate.append(DroppedRecord(g.id, recipe, g.prompt_id, g.text, screened.reason, screened.detail,
                                            None, None, None, {}, figures, screened.strips,
                                            template=p.template, vars=p.vars))
            continue
        g, strips[g.id] = dataclasses.replace(g, text=screened.text), screened.strips
        outcome = check.run(p, g, check_cfg) if check else CheckOutcome({})
        outcome = dataclasses.replace(outcome, figures=round_floats({**outcome.figures, **figures}))
        fidelity[g.id] = measure_fidelity(g.text, p.vars, recipe, linker, cfg.fidelity)
        why = (outcome.reason, outcome.detail) if outcome.reason else fidelity_reason(fidelity[g.id], cfg.fidelity)
        if why:
            dropped.append(DroppedRecord(g.id, recipe, g.prompt_id, g.text, why[0], why[1], None, None, None, {},
                                         outcome.figures, strips[g.id], fidelity[g.id], p.template, p.vars))
        else:
            survivors.append((g, outcome))
    n_degenerate = len(degenerate)
    dropped = degenerate + dropped
    n_check_dropped = len(dropped)
    timings["checks"] = time.perf_counter() - clock

    clock = time.perf_counter()
    train_index = NgramIndex(cfg.leakage.ngram).add(n.text for n in notes if n.split == "train")
    leaks: dict[str, dict[str, Any]] = {}
    clean: list[tuple[Generation, CheckOutcome]] = []
    for g, outcome in tqdm(survivors, desc=f"leakage {recipe}", unit="rec", disable=not progress):
        train_leak = train_index.measure(g.text)
        leaks[g.id] = _leak_figures(train_leak, source_leak.measure(prompt_of[g.prompt_id], g.text))
        why = _leak_reason(train_leak, cfg.leakage)
        if why:
            p = prompt_of[g.prompt_id]
            dropped.append(DroppedRecord(g.id, recipe, g.prompt_id, g.text, why[0], why[1], None, None, None,
                                         leaks[g.id], outcome.figures, strips[g.id], fidelity[g.id], p.template, p.vars))
        else:
            clean.append((g, outcome))
    n_leak_dropped = len(dropped) - n_check_dropped
    timings["leakage"] = time.perf_counter() - clock

    clock = time.perf_counter()
    dups = {d.id: d for d in find_duplicates([(g.id, g.text) for g, _ in clean], cfg.dedup, seed, progress)}
    kept: list[SyntheticRecord] = []
    for g, outcome in clean:
        d, p = dups.get(g.id), prompt_of[g.prompt_id]
        if d:
            detail = (f"exact duplicate of kept record {d.duplicate_of!r} (same tokens, ignoring case and spacing)"
                      if d.kind == "exact" else
                      f"near duplicate of kept record {d.duplicate_of!r}: Jaccard of {cfg.dedup.shingle}-token "
                      f"shingles {d.jaccard_exact:.3f} (MinHash estimate {d.jaccard_estimated:.3f}) "
                      f">= threshold {cfg.dedup.threshold}")
            dropped.append(DroppedRecord(g.id, recipe, g.prompt_id, g.text, f"{d.kind}_duplicate", detail,
                                         d.duplicate_of, d.jaccard_estimated, d.jaccard_exact, leaks[g.id],
                                         outcome.figures, strips[g.id], fidelity[g.id], p.template, p.vars))
            continue
        kept.append(SyntheticRecord(
            id=g.id, recipe=recipe, prompt_id=g.prompt_id, template=p.template, template_sha=p.template_sha,
            model=g.model, source_ids=list(p.source_ids), text=g.text, parsed=g.parsed, vars=p.vars,
            contract=p.contract.to_dict() if p.contract else None, leakage=leaks[g.id], checks=outcome.figures,
            strips=strips[g.id], fidelity=fidelity[g.id]))
    timings["dedup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    train_texts = [n.text for n in notes if n.split == "train"]
    diversity = measure_diversity([r.text for r in kept], train_texts, cfg.diversity.self_bleu_sample, seed,
                                  cfg.diversity.max_order)
    timings["diversity"] = time.perf_counter() - clock
    clock = time.perf_counter()
    membership = _audit(kept, prompts, notes, source_leak, cfg.membership, seed)
    timings["membership"] = time.perf_counter() - clock

    n = len(gens)
    reasons = Counter(d.reason for d in dropped)
    leak_values = [leaks[g.id] for g, _ in survivors]
    sourced = [v for v in leak_values if v["source_longest_span"] is not None]
    outside = sum(1 for p in prompts for s in source_leak.sources(p) if s.split != "train")
    rejected = Counter(r.reason for r in rejections)
    answered = {g.prompt_id for g in gens} | {r.prompt_id for r in rejections}
    checked = [o.figures for _, o in survivors] + [d.checks for d in dropped[n_degenerate:n_check_dropped]]
    metrics = {
        "recipe": recipe,
        "corpus": corpus,
        "text": params.text,
        "counts": {
            "prompts": len(prompts), "generations": n,
            "rejected_at_generation": dict(sorted(rejected.items())), "rejected_at_generation_total": len(rejections),
            "prompts_without_output": sum(1 for p in prompts if p.id not in answered),
            "dropped": dict(sorted(reasons.items())), "dropped_total": len(dropped),
            "kept": len(kept), "kept_fraction": len(kept) / n if n else 0.0,
        },
        "checks": {
            "registered": check is not None, "dropped": n_check_dropped - n_degenerate,
            "dropped_fraction": (n_check_dropped - n_degenerate) / n if n else 0.0,
            "figures": {name: summarize([f[name] for f in checked if name in f])
                        for name in sorted({k for f in checked for k in f})},
        },
        "leakage": {
            "ngram": cfg.leakage.ngram, "max_span": cfg.leakage.max_span, "max_overlap": cfg.leakage.max_overlap,
            "train_notes": train_index.n_sources, "measured": len(survivors), "dropped": n_leak_dropped,
            "dropped_fraction": n_leak_dropped / n if n else 0.0,
            "train": {"longest_span": summarize([v["train_longest_span"] for v in leak_values], cfg.leakage.span_edges),
                      "overlap": summarize([v["train_overlap"] for v in leak_values], cfg.leakage.overlap_edges)},
            "prompted_source": {
                "measured": len(sourced), "unresolved": len(leak_values) - len(sourced),
                "prompt_sources_outside_train": outside,
                "longest_span": summarize([v["source_longest_span"] for v in sourced], cfg.leakage.span_edges),
                "overlap": summarize([v["source_overlap"] for v in sourced], cfg.leakage.overlap_edges)},
        },
        "dedup": {
            "shingle": cfg.dedup.shingle, "num_perm": cfg.dedup.num_perm, "threshold": cfg.dedup.threshold,
            "exact": reasons.get("exact_duplicate", 0), "near": reasons.get("near_duplicate", 0),
            "dropped_fraction": len(dups) / n if n else 0.0,
        },
        "degeneracy": _degeneracy_metrics(strips, degenerate, [o.figures for _, o in survivors], cfg.degeneracy, n),
        "fidelity": fidelity_metrics(gens, prompt_of, fidelity, linker is not None, cfg.fidelity),
        "diversity": diversity,
        "membership": membership,
    }
    metrics = round_floats(metrics)
    report, failures = evaluate_limits(metrics, limits, corpus)
    metrics["limits"] = report
    return PostprocessResult(kept, dropped + _rejected(rejections, prompt_of, recipe), metrics, failures, timings)


def _rejected(rejections: Sequence[Rejection], prompt_of: dict[str, Prompt], recipe: str) -> list[DroppedRecord]:
    """The generate-time rejections as dropped records (``stage: generate``), so the corpus folder accounts
    for every prompt: kept in records.jsonl, or in dropped.jsonl with the stage and reason."""
    out = []
    for r in sorted(rejections, key=lambda r: r.prompt_id):
        p = prompt_of.get(r.prompt_id)
        if p is None:
            raise QualityInputError(f"rejection of prompt {r.prompt_id!r} ({r.reason}): the prompt is not among the "
                                    f"{len(prompt_of)} prompts; rejections and prompts are out of step "
                                    f"(rerun generate@{recipe})")
        out.append(DroppedRecord(r.generation_id or r.prompt_id, recipe, r.prompt_id, "", r.reason, r.detail,
                                 None, None, None, {}, {}, template=p.template, vars=p.vars, stage="generate"))
    return out


def _audit(kept: list[SyntheticRecord], prompts: Sequence[Prompt], notes: Sequence[Note],
           source_leak: _SourceLeakage, cfg: MembershipConfig, seed: int) -> dict[str, Any]:
    """Members: the train notes the prompts drew from, when at least ``min_notes`` resolve; else every train note."""
    prompted = {s.id: s for p in prompts for s in source_leak.sources(p) if s.split == "train"}
    train = [n.text for n in notes if n.split == "train"]
    held_out = [n.text for n in notes if n.split in ("dev", "test")]
    if len(prompted) >= cfg.min_notes:
        members, kind = [prompted[k].text for k in sorted(prompted)], "prompted_train_notes"
    else:
        members, kind = train, "train_notes"
    return {"member_set": kind, **membership_audit([r.text for r in kept], members, held_out, cfg, seed)}


def _source_text(prompt: Prompt, source_leak: _SourceLeakage) -> str | None:
    """What the language check compares with: the prompt's source notes, else every string of its vars."""
    sources = source_leak.sources(prompt)
    if sources:
        return "\n".join(n.text for n in sources)
    return "\n".join(strings_of(prompt.vars)) or None


def _degeneracy_metrics(strips: dict[str, list[str]], degenerate: list[DroppedRecord],
                        figures: list[dict[str, float]], cfg: DegeneracyConfig, n: int) -> dict[str, Any]:
    stripped = Counter(s for done in strips.values() for s in done)
    reasons = Counter(d.reason for d in degenerate)
    names = ("repeated_ngram_share", "longest_repeated_span", "compression_ratio", "stopword_ratio")
    return {"settings": dataclasses.asdict(cfg),
            "stripped": dict(sorted(stripped.items())), "stripped_records": sum(1 for v in strips.values() if v),
            "dropped": dict(sorted(reasons.items())), "dropped_total": len(degenerate),
            "dropped_fraction": len(degenerate) / n if n else 0.0,
            "figures": {k: summarize([f[k] for f in figures if k in f]) for k in names}}
