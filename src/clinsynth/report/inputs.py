"""What the report reads: the settings (``params.yaml: report``), the files they list, and discovery.

Every file listed in ``report.metrics``, ``report.plots`` and ``report.recipes`` is required: one that does
not exist is a :class:`ReportInputError` naming it (the same lists are the stage's DVC deps). Everything
else is optional: a recipe in ``expected_recipes`` with nothing listed is shown as missing, unresolvable
sources are shown as such, and timings are read only when ``include_timings`` is set. A listed file of a
recipe switched off (``recipes.enabled.R: []``; ``off`` in :func:`load_inputs`) is neither required nor read:
git keeps the demo's metrics files, which would show stale figures, and the recipe is shown as "not enabled".
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from clinsynth.errors import InputError
from clinsynth.params import NonNegativeInt, PositiveInt
from clinsynth.records import read_json, read_jsonl
from clinsynth.report.compare import DEFAULT_LOWER_IS_BETTER, is_number

EXPECTED_RECIPES = ["rephrase", "kg_notes", "brat_augment", "retrieval", "fhir_qa"]
EXPECTED_PIPELINE = ["demo_data", "ingest", "kg"]
CURVE_SUFFIXES = (".json", ".csv", ".tsv")


@dataclasses.dataclass(frozen=True)
class Curve:
    """One plot file: series name -> points ``(x, y)``, x named ``x_label``; or, for a confusion file (rows
    ``{"actual", "predicted"}``, dvc template ``confusion``), its ``pairs`` and no series."""

    name: str
    x_label: str
    series: dict[str, list[tuple[float, float]]]
    pairs: tuple[tuple[str, str], ...] = ()  # (actual, predicted) per row of a confusion file


class ReportInputError(InputError):
    """A file the report settings list is missing or unreadable."""


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    out: str = "reports/index.html"
    leakage_plot: str = "reports/leakage.json"  # long rows for `dvc plots` (recipe, source, measure, bucket, records)
    metrics: list[str] = dataclasses.field(default_factory=list)  # required metrics files (stage deps)
    plots: list[str] = dataclasses.field(default_factory=list)  # required curve files (.json rows | .csv | .tsv)
    recipes: list[str] = dataclasses.field(default_factory=list)  # required corpora: synthetic records + quality_R
    expected_recipes: list[str] = dataclasses.field(default_factory=lambda: list(EXPECTED_RECIPES))
    expected_pipeline: list[str] = dataclasses.field(default_factory=lambda: list(EXPECTED_PIPELINE))
    samples: NonNegativeInt = 3  # seeded sample records per recipe
    max_chars: PositiveInt = 1200  # characters of each sample text shown
    include_timings: bool = False  # wall clock from timing_dir: the page then differs run to run
    timing_dir: str = "metrics/timing"
    lower_is_better: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_LOWER_IS_BETTER))


@dataclasses.dataclass(frozen=True)
class Sample:
    id: str
    source_ids: list[str]
    source: str | None  # the resolved source chunks/notes, joined; None when no source id resolves
    synthetic: str


@dataclasses.dataclass(frozen=True)
class RecipeInputs:
    name: str
    quality: dict[str, Any] | None  # metrics/quality_R.json
    metrics: dict[str, Any]  # every other metrics file of the recipe, by path
    curves: list[Curve]
    samples: list[Sample]
    n_records: int  # kept synthetic records (0 when the corpus is not listed)
    enabled: bool = True  # False: its recipe is switched off (recipes.enabled.R: []), nothing of it is read


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    pipeline: dict[str, Any]  # metrics of stages that belong to no recipe, by path
    pipeline_curves: list[Curve]
    recipes: list[RecipeInputs]
    missing: list[str]  # one line each: what the page does not show yet and where it would come from
    ngram: int  # postprocess.leakage.ngram: the shortest highlighted span
    lower_is_better: list[str]
    max_chars: PositiveInt = 1200
    timings: dict[str, Any] | None = None  # by file stem, only when include_timings


# metrics files named after their task rather than their recipe
STEM_RECIPES = {"icd": "kg_notes", "train_ner_baseline": "brat_augment", "train_ner_augmented": "brat_augment",
                "train_fhir_relevance": "fhir_qa"}  # training histories (metrics/plots/<stage>[_<variant>].json)
# curve files named after their stage: stem prefix -> recipe (train_icd_<variant>_<arm>, confusion_icd_<variant>_<arm>)
PREFIX_RECIPES = {"train_icd_": "kg_notes", "confusion_icd_": "kg_notes"}
# report sections named otherwise than their switch in recipes.enabled
SWITCHES = {"retrieval": "retrieval_queries", "kg_notes_lora": "kg_notes"}
# gated corpora shown in a section named otherwise (retrieval_queries' queries beside the retrieval metrics)
CORPUS_SECTIONS = {"retrieval_queries": "retrieval"}
# pipeline stages that exist only while a recipe (or the demo: "demo", demo_data.sets non-empty) is on
STAGE_OWNERS = {"demo_data": ("demo",), "brat_silver": ("demo", "brat_augment"), "fhir_ingest": ("fhir_qa",)}


def is_off(path: str, names: list[str], off: frozenset[str] | set[str]) -> bool:
    """Whether a listed file belongs to a recipe switched off (its section, or the stage that writes it)."""
    section = recipe_of(path, names)
    return (section is not None and SWITCHES.get(section, section) in off) or \
        any(owner in off for owner in STAGE_OWNERS.get(Path(path).stem, ()))


def recipe_of(path: str, recipes: list[str]) -> str | None:
    """The recipe a metrics or curve file belongs to: its stem is ``R``, ``R_*`` (``rephrase_loss``) or ``*_R``
    (``quality_R``, ``generate_R``, ``sample_R``), or one of ``STEM_RECIPES``; the longest matching recipe
    name wins."""
    stem = Path(path).stem
    if STEM_RECIPES.get(stem) in recipes:
        return STEM_RECIPES[stem]
    prefixed = next((r for prefix, r in PREFIX_RECIPES.items() if stem.startswith(prefix)), None)
    if prefixed in recipes:
        return prefixed
    matches = [r for r in recipes if stem == r or stem.startswith(r + "_") or stem.endswith("_" + r)]
    return max(matches, key=len) if matches else None


def read_curve(path: Path) -> Curve:
    """Rows of a plot file (JSON list of objects, or ``{"name": [rows]}``; CSV/TSV with a header) as series.

    The x column is ``step``, ``epoch``, ``x`` or ``iteration`` when present, else the row index; every other
    numeric column is one series.
    """
    if path.suffix == ".json":
        rows = read_json(path)
        if isinstance(rows, dict) and len(rows) == 1:
            rows = next(iter(rows.values()))
    else:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [{k: _number(v) for k, v in row.items()}
                    for row in csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ",")]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ReportInputError(f"{path}: expected a list of rows (objects), got {type(rows).__name__}")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if rows and set(keys) == {"actual", "predicted"}:
        return Curve(path.stem, "actual", {}, tuple((str(r["actual"]), str(r["predicted"])) for r in rows))
    x = next((k for k in ("step", "epoch", "x", "iteration") if k in keys), None)
    series = {k: [(r[x] if x else i, r[k]) for i, r in enumerate(rows) if is_number(r.get(k))]
              for k in keys if k != x}
    return Curve(path.stem, x or "row", {k: v for k, v in series.items() if v})


def _number(text: str) -> Any:
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _require(paths: list[Path], what: str) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ReportInputError(f"params.yaml report.{what} lists {', '.join(missing)}, which do(es) not exist; "
                               f"run the stage that writes it (dvc repro) or remove it from report.{what}")


def _read_metrics(path: Path) -> Any:
    try:
        return read_json(path)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


def source_texts(notes_path: Path, chunks_path: Path) -> dict[str, str]:
    """Source id -> text for every note and chunk that exists (either file may be absent)."""
    texts: dict[str, str] = {}
    for path in (notes_path, chunks_path):
        if path.exists():
            texts.update((r["id"], r["text"]) for r in read_jsonl(path))
    return texts


def pick_samples(records: list[dict[str, Any]], k: int, seed: int, recipe: str,
                 sources: dict[str, str]) -> list[Sample]:
    """``k`` records drawn with a seed derived from (seed, recipe), shown in id order."""
    ordered = sorted(records, key=lambda r: r["id"])
    chosen = sorted(random.Random(f"{seed}:report:{recipe}").sample(ordered, min(k, len(ordered))),
                    key=lambda r: r["id"])
    samples = []
    for r in chosen:
        ids = list(r.get("source_ids", []))
        found = [sources[i] for i in ids if i in sources]
        samples.append(Sample(r["id"], ids, "\n\n".join(found) if found else None, r["text"]))
    return samples


def discover(cfg: ReportConfig, metrics_dir: Path, synthetic_dir: Path) -> ReportConfig:
    """``cfg`` listing everything present: ``metrics_dir/*.json``, ``metrics_dir/plots/*``, and each corpus
    ``synthetic_dir/R/records.jsonl`` that has its ``quality_R.json``."""
    metrics = sorted(str(p) for p in metrics_dir.glob("*.json"))
    plots = sorted(str(p) for p in (metrics_dir / "plots").glob("*") if p.suffix in CURVE_SUFFIXES)
    recipes = sorted(p.parent.name for p in synthetic_dir.glob("*/records.jsonl")
                     if (metrics_dir / f"quality_{p.parent.name}.json").exists())
    return dataclasses.replace(cfg, metrics=metrics, plots=plots, recipes=recipes)


def load_inputs(cfg: ReportConfig, *, metrics_dir: Path, synthetic_dir: Path, notes: Path, chunks: Path,
                ngram: int, seed: int, off: frozenset[str] = frozenset()) -> ReportInputs:
    """Read every listed file (missing ones raise, naming them) and what the page shows of each recipe.

    ``off``: the recipes switched off (names as in recipes.enabled), and "demo" when demo_data.sets is empty:
    their listed files are skipped."""
    # sections, those switched off included
    every = list(dict.fromkeys([*cfg.expected_recipes, *(CORPUS_SECTIONS.get(r, r) for r in cfg.recipes)]))
    cfg = dataclasses.replace(cfg, metrics=[p for p in cfg.metrics if not is_off(p, every, off)],
                              plots=[p for p in cfg.plots if not is_off(p, every, off)],
                              recipes=[r for r in cfg.recipes if SWITCHES.get(r, r) not in off])
    _require([Path(p) for p in cfg.metrics], "metrics")
    _require([Path(p) for p in cfg.plots], "plots")
    corpora = {CORPUS_SECTIONS.get(r, r): (synthetic_dir / r / "records.jsonl", metrics_dir / f"quality_{r}.json")
               for r in cfg.recipes}  # keyed by section
    _require([p for pair in corpora.values() for p in pair], "recipes")
    quality_paths = {str(q) for _, q in corpora.values()}
    names = list(dict.fromkeys([*every, *corpora,
                                *(CORPUS_SECTIONS.get(stem, stem) for stem in (Path(p).stem.split("_", 1)[1] for p in
                                  cfg.metrics if Path(p).stem.startswith(("quality_", "generate_"))))]))
    metrics = {str(Path(p)): _read_metrics(Path(p)) for p in cfg.metrics if str(Path(p)) not in quality_paths}
    curves = [read_curve(Path(p)) for p in cfg.plots]
    sources = source_texts(notes, chunks) if cfg.recipes else {}
    recipes = []
    for name in names:
        records = list(read_jsonl(corpora[name][0])) if name in corpora else []
        quality_path = str(corpora[name][1] if name in corpora else metrics_dir / f"quality_{name}.json")
        quality = _read_metrics(corpora[name][1]) if name in corpora else metrics.get(quality_path)
        mine = {p: m for p, m in metrics.items() if recipe_of(p, names) == name and p != quality_path}
        recipes.append(RecipeInputs(name, quality, mine, [c for c in curves if recipe_of(c.name, names) == name],
                                    pick_samples(records, cfg.samples, seed, name, sources), len(records),
                                    SWITCHES.get(name, name) not in off))
    pipeline = {p: m for p, m in metrics.items() if recipe_of(p, names) is None}
    timings = None
    if cfg.include_timings:
        timings = {p.stem: read_json(p) for p in sorted(Path(cfg.timing_dir).glob("*.json"))}
    return ReportInputs(pipeline, [c for c in curves if recipe_of(c.name, names) is None], recipes,
                        missing_lines(cfg, recipes, metrics_dir, synthetic_dir, off), ngram, list(cfg.lower_is_better),
                        cfg.max_chars, timings)


def missing_lines(cfg: ReportConfig, recipes: list[RecipeInputs], metrics_dir: Path, synthetic_dir: Path,
                  off: frozenset[str] = frozenset()) -> list[str]:
    """What the page cannot show, one line per expected stage or recipe part not listed in the settings (a
    stage or recipe switched off: one line saying so)."""
    listed = {str(Path(p)) for p in cfg.metrics}
    lines = [f"pipeline: {name} (not enabled)" if is_off(f"{name}.json", [], off) else
             f"pipeline: {name} (no {metrics_dir / f'{name}.json'} in report.metrics)"
             for name in cfg.expected_pipeline if str(metrics_dir / f"{name}.json") not in listed]
    for r in recipes:
        if not r.enabled:
            lines.append(f"{r.name}: not enabled (recipes.enabled.{SWITCHES.get(r.name, r.name)}: [])")
            continue
        parts = []
        if r.quality is None:
            parts.append(f"synthetic corpus and quality metrics ({synthetic_dir / r.name / 'records.jsonl'}, "
                         f"{metrics_dir / f'quality_{r.name}.json'}: not in report.recipes)")
        if not r.metrics:
            parts.append(f"downstream metrics ({metrics_dir / f'{r.name}.json'}: not in report.metrics)")
        if parts:
            lines.append(f"{r.name}: no " + "; no ".join(parts))
    return lines
