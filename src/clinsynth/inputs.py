"""Your data in: which paths are inputs, the guarantee that no stage writes there, and what each recipe needs.

Inputs are ``base.paths.raw_notes`` (the folder holding every ``ingest.inputs`` file), ``raw_fhir``, ``brat``
and ``raw_kg``. They are only ever DVC dependencies. The demo builds its own inputs under ``demo_data.out_dir``
(stages ``demo_data@synthea`` and ``brat_silver@brat_augment-synthea``, present while ``demo_data.sets`` is
``[synthea]``); with your own data ``demo_data.sets: []`` drops those stages and nothing is built or written
there. A switched-off recipe's own inputs (``raw_fhir`` for fhir_qa, ``brat`` for brat_augment) are not checked.

:func:`input_problems` checks a params mapping (cheap, run by the stages that read inputs);
:func:`output_overlaps` checks it against every output DVC knows of (run by ``clinsynth preflight``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from clinsynth.params import ConfigError, Paths, from_mapping, load_base, read_params

INPUT_PATHS = ("raw_notes", "raw_fhir", "brat", "raw_kg")  # base.paths keys that name the user's data
DEMO_STAGES = ("demo_data", "brat_silver")  # the stages that build the demo's inputs (foreach over demo_data.sets)

# What each recipe reads of your data, in words (the sample@R stage checks the records themselves),
# and the base.paths keys its sample@R stage reads (recipes.reads must name these paths).
NEEDS: dict[str, tuple[str, ...]] = {
    "rephrase": ("notes",),
    "kg_notes": ("notes with ICD-10-CM codes (meta.icd10)", "the KG"),
    "brat_augment": ("a BRAT corpus with train/ dev/ test/ (base.paths.brat)",),
    "retrieval_queries": ("notes (held-out queries from their coded record meta.conditions / medications / "
                          "procedures, else from KG names in the test chunks)", "the KG"),
    "fhir_qa": ("FHIR R4 bundles (base.paths.raw_fhir)",),
}
SAMPLE_READS: dict[str, tuple[str, str]] = {
    "rephrase": ("chunks", "chunks"),
    "kg_notes": ("notes", "kg_graph"),
    "brat_augment": ("brat", "brat"),
    "retrieval_queries": ("chunks", "chunks"),
    "fhir_qa": ("fhir_resources", "fhir_resources"),
}
# The stage whose metrics answer each recipe's question (a dvc.yaml definition: its stage is `<name>@R`).
EVALUATE_STAGES: dict[str, str] = {
    "rephrase": "evaluate_rephrase",
    "kg_notes": "evaluate_kg_notes",
    "brat_augment": "evaluate_brat_augment",
    "retrieval_queries": "evaluate_retrieval",
    "fhir_qa": "evaluate_fhir_qa",
}
# The gated corpora (postprocess.corpora: corpus -> recipe) of each recipe. retrieval_queries' and fhir_qa's
# are measured and reported; their later stages do not read them yet (they read the generations).
CORPORA: dict[str, dict[str, str]] = {
    "rephrase": {"rephrase": "rephrase"},
    "kg_notes": {"kg_notes": "kg_notes", "kg_notes_lora": "kg_notes"},
    "brat_augment": {"brat_augment": "brat_augment"},
    "retrieval_queries": {"retrieval_queries": "retrieval_queries"},
    "fhir_qa": {"fhir_qa": "fhir_qa"},
}
# The inputs (base.paths keys) only some recipes read; ingest reads raw_notes and kg raw_kg whatever is enabled.
INPUT_RECIPES: dict[str, tuple[str, ...]] = {"raw_fhir": ("fhir_qa",), "brat": ("brat_augment",)}


@dataclasses.dataclass(frozen=True)
class ReadSlots:
    first: str
    second: str


@dataclasses.dataclass(frozen=True)
class RecipesConfig:
    enabled: dict[str, list[str]]  # recipe -> [recipe] (on) | [] (off): the list every stage of it loops over
    reads: dict[str, ReadSlots]  # one entry per enabled recipe: what its sample@R reads

    @property
    def on(self) -> list[str]:
        """The enabled recipes, in NEEDS order."""
        return [r for r in NEEDS if self.enabled.get(r)]


def enabled_recipes(params: Mapping[str, Any]) -> list[str]:
    """The enabled recipes of a raw params mapping (unchecked: every recipe when the switches are unreadable)."""
    switches = (params.get("recipes") or {}).get("enabled")
    if not isinstance(switches, Mapping):
        return list(NEEDS)
    return [r for r in NEEDS if switches.get(r, [r])]


def load_recipes(path: Path | str = "params.yaml") -> RecipesConfig:
    """``params.yaml: recipes``, checked: one switch per recipe, ``reads`` naming the paths each enabled sample@R
    reads, and ``postprocess.corpora`` holding exactly the enabled recipes' corpora."""
    data = read_params(path)
    base = load_base(path)
    if "recipes" not in data:
        raise ConfigError(f"{Path(path).name}: missing section 'recipes' (enabled: {{R: [R] | []}}, reads: {{...}})")
    name = Path(path).name
    switches = (data["recipes"] or {}).get("enabled")
    if not isinstance(switches, Mapping):
        raise ConfigError(f"{name}: recipes.enabled: expected one switch per recipe, {{R: [R] or []}} (DVC builds "
                          f"no stage from an empty list), found {switches!r}; write e.g. `rephrase: [rephrase]`")
    for recipe, value in switches.items():  # before the typed load, so `rephrase: true` gets this message
        if value not in ([], [recipe]):
            raise ConfigError(f"{name}: recipes.enabled.{recipe}: expected [{recipe}] (on) or [] (off), found "
                              f"{value!r}: every stage of {recipe} loops over this list; write `{recipe}: [{recipe}]` "
                              f"or `{recipe}: []` (a bare yes/no/on/off is a YAML boolean)")
    cfg = from_mapping(RecipesConfig, data["recipes"], f"{name}: recipes", base.profile)
    check_recipes(cfg, base.paths)
    check_corpora(cfg, (data.get("postprocess") or {}).get("corpora") or {})
    return cfg


def switched_off(path: Path | str = "params.yaml") -> frozenset[str]:
    """The recipes switched off (checked as :func:`load_recipes` does), plus "demo" when demo_data.sets is []."""
    demo = (read_params(path).get("demo_data") or {}).get("sets", ["synthea"])
    return frozenset([r for r in NEEDS if r not in load_recipes(path).on] + ([] if demo else ["demo"]))


def check_recipes(cfg: RecipesConfig, paths: Paths) -> None:
    known = list(NEEDS)
    unknown = [r for r in cfg.enabled if r not in NEEDS]
    if unknown:
        raise ConfigError(f"recipes.enabled: unknown recipe {unknown[0]!r}; known recipes: {', '.join(known)}")
    for recipe in known:
        if recipe not in cfg.enabled:
            raise ConfigError(f"recipes.enabled: no switch for {recipe}; add the line `{recipe}: [{recipe}]` (on) "
                              f"or `{recipe}: []` (off) under recipes.enabled")
        if cfg.enabled[recipe] not in ([], [recipe]):
            raise ConfigError(f"recipes.enabled.{recipe}: expected [{recipe}] (on) or [] (off), found "
                              f"{cfg.enabled[recipe]!r}: every stage of {recipe} loops over this list; write "
                              f"`{recipe}: [{recipe}]` or `{recipe}: []`")
    for recipe in cfg.reads:
        if recipe in NEEDS and recipe not in cfg.on:
            raise ConfigError(f"recipes.reads.{recipe}: {recipe} is switched off (recipes.enabled.{recipe}: []), "
                              f"but sample@{recipe} and generate@{recipe} loop over recipes.reads: delete the line "
                              f"`{recipe}: {{...}}` under recipes.reads (`clinsynth recipes --only ...` does both)")
    for recipe, (first, second) in SAMPLE_READS.items():
        expected = ReadSlots(getattr(paths, first), getattr(paths, second))
        if recipe in cfg.on and recipe not in cfg.reads:
            raise ConfigError(f"recipes.reads: no entry for {recipe}, which is switched on; add the line "
                              f"`{recipe}: {{first: {expected.first}, second: {expected.second}}}` under recipes.reads")
        if recipe in cfg.reads and cfg.reads[recipe] != expected:
            raise ConfigError(f"recipes.reads.{recipe}: expected "
                              f"{{first: {expected.first}, second: {expected.second}}} "
                              f"(base.paths.{first}, base.paths.{second}), found {{first: {cfg.reads[recipe].first}, "
                              f"second: {cfg.reads[recipe].second}}}; copy the paths from base.paths")
    unknown = [r for r in cfg.reads if r not in NEEDS]
    if unknown:
        raise ConfigError(f"recipes.reads: unknown recipe {unknown[0]!r}; known recipes: {', '.join(known)}")


def check_corpora(cfg: RecipesConfig, corpora: Mapping[str, str]) -> None:
    """``postprocess.corpora`` (corpus -> recipe, one postprocess@corpus each) against the switches."""
    for corpus, recipe in corpora.items():
        if recipe in NEEDS and recipe not in cfg.on:
            raise ConfigError(f"postprocess.corpora.{corpus}: its recipe {recipe} is switched off "
                              f"(recipes.enabled.{recipe}: []), so nothing generates data/generations/{corpus}.jsonl: "
                              f"delete the line `{corpus}: {recipe}` under postprocess.corpora")
    for recipe in cfg.on:
        for corpus, owner in CORPORA[recipe].items():
            if corpora.get(corpus) != owner:
                raise ConfigError(f"postprocess.corpora: {recipe} is switched on and its later stages read the gated "
                                  f"corpus {corpus}; add the line `{corpus}: {owner}` under postprocess.corpora")


def _resolve(path: str | Path, root: Path) -> Path:
    p = Path(path)
    return (p if p.is_absolute() else root / p).resolve()


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def configured_inputs(params: Mapping[str, Any]) -> dict[str, str]:
    """Every input path of a params mapping, by the params key that names it."""
    paths = (params.get("base") or {}).get("paths") or {}
    defaults = Paths()
    found = {f"base.paths.{key}": str(paths.get(key, getattr(defaults, key))) for key in INPUT_PATHS}
    for i, source in enumerate((params.get("ingest") or {}).get("inputs") or []):
        if isinstance(source, Mapping) and "path" in source:
            found[f"ingest.inputs[{i}].path"] = str(source["path"])
    return found


def used_inputs(params: Mapping[str, Any]) -> dict[str, str]:
    """The inputs the enabled recipes read (a switched-off recipe's input may point anywhere, even at nothing)."""
    enabled = enabled_recipes(params)
    return {key: path for key, path in configured_inputs(params).items()
            if any(r in enabled for r in INPUT_RECIPES.get(key.removeprefix("base.paths."), NEEDS))}


def _demo_dirs(params: Mapping[str, Any]) -> dict[str, str]:
    demo = params.get("demo_data") or {}
    silver = params.get("brat_silver") or {}
    return {"demo_data.out_dir": str(demo.get("out_dir", "data/demo")),
            "brat_silver.out_dir": str(silver.get("out_dir", "data/demo/brat"))}


def input_problems(params: Mapping[str, Any], root: Path | str = ".") -> list[str]:
    """What is wrong with the inputs a params mapping names, without asking DVC (each problem says how to fix it)."""
    root = Path(root).resolve()
    inputs = configured_inputs(params)
    problems = []
    notes_dir = _resolve(inputs["base.paths.raw_notes"], root)
    for key, path in inputs.items():
        if key.startswith("ingest.inputs") and not _resolve(path, root).is_relative_to(notes_dir):
            problems.append(f"{key} = {path} is not inside base.paths.raw_notes = {inputs['base.paths.raw_notes']}: "
                            "ingest depends on that folder, so DVC would not see your file change; put the file "
                            "there or point base.paths.raw_notes at its folder")
    sets = (params.get("demo_data") or {}).get("sets", ["synthea"])
    if not sets:
        for demo_key, demo_dir in _demo_dirs(params).items():
            for key, path in used_inputs(params).items():
                if key != "base.paths.raw_kg" and _overlap(_resolve(path, root), _resolve(demo_dir, root)):
                    problems.append(f"{key} = {path} lies in the demo's folder {demo_dir} ({demo_key}), but "
                                    "demo_data.sets is [] so nothing builds it: point it at your own data, or set "
                                    "demo_data.sets: [synthea] for the demo")
    return problems


def output_overlaps(params: Mapping[str, Any], outputs: Iterable[tuple[str, str]], root: Path | str = ".") -> list[str]:
    """Inputs that overlap a stage's output (``outputs``: (stage name, path) pairs, e.g. from DVC's index).

    The demo stages may write the demo's default inputs; kg_build writes its own folder inside base.paths.raw_kg
    (your KG files go beside it). Any other overlap would let ``dvc repro`` delete or replace your files.
    """
    root = Path(root).resolve()
    kg_build_out = _resolve(((params.get("kg_build") or {}).get("out_dir") or "data/raw/kg/default"), root)
    problems = []
    for key, path in used_inputs(params).items():
        source = _resolve(path, root)
        for stage, out in outputs:
            target = _resolve(out, root)
            if not _overlap(source, target) or stage.split("@")[0] in DEMO_STAGES:
                continue
            if key == "base.paths.raw_kg" and target == kg_build_out and target.is_relative_to(source):
                continue
            problems.append(f"{key} = {path} overlaps {out}, an output of stage {stage}: `dvc repro` would delete "
                            "or replace the files there; point the input at a folder no stage writes")
    return problems


def dvc_outputs(root: Path | str = ".") -> list[tuple[str, str]]:
    """(stage name, output path) of every stage in the repository's dvc.yaml, as DVC resolves them."""
    from dvc.repo import Repo

    root = Path(root).resolve()

    def shown(path: str) -> str:  # relative to the repository, as params.yaml writes it
        p = Path(path)
        return str(p.relative_to(root)) if p.is_relative_to(root) else path

    with Repo(str(root)) as repo:
        return [(getattr(stage, "name", stage.addressing), shown(out.fs_path))
                for stage in repo.index.stages for out in stage.outs]


def check_inputs(path: Path | str = "params.yaml", root: Path | str = ".") -> None:
    """Raise ConfigError listing every input problem of ``path`` (params only; the stages call this first)."""
    problems = input_problems(read_params(path), root)
    if problems:
        raise ConfigError("inputs:\n  - " + "\n  - ".join(problems))


def missing_inputs(params: Mapping[str, Any], enabled: Iterable[str], root: Path | str = ".") -> list[str]:
    """The inputs an enabled recipe needs that are neither on disk nor built by the demo stages."""
    root = Path(root).resolve()
    inputs = configured_inputs(params)
    demo_on = bool((params.get("demo_data") or {}).get("sets", ["synthea"]))
    demo_dirs = [_resolve(d, root) for d in _demo_dirs(params).values()]

    def built_by_demo(path: str) -> bool:
        return demo_on and any(_resolve(path, root).is_relative_to(d) for d in demo_dirs)

    def present(key: str, pattern: str) -> bool:
        folder = _resolve(inputs[key], root)
        return built_by_demo(inputs[key]) or (folder.is_dir() and any(folder.glob(pattern)))

    checks = {"base.paths.raw_notes": ("**/*", "your notes (ingest.inputs)"),
              "base.paths.brat": ("train/*.ann", "a BRAT corpus: train/, dev/, test/ with .txt + .ann"),
              "base.paths.raw_fhir": ("*.json", "FHIR R4 bundles (*.json)")}
    wants = {"rephrase": ["base.paths.raw_notes"], "retrieval_queries": ["base.paths.raw_notes"],
             "kg_notes": ["base.paths.raw_notes"], "brat_augment": ["base.paths.brat"],
             "fhir_qa": ["base.paths.raw_fhir"]}
    problems = []
    for recipe in enabled:
        for key in wants.get(recipe, []):
            pattern, what = checks[key]
            if not present(key, pattern):
                problems.append(f"recipe {recipe} needs {what} at {key} = {inputs[key]}, and there is none: point "
                                f"{key} at it, or switch the recipe off: recipes.enabled.{recipe}: []")
    return problems


def input_report(enabled: Iterable[str], root: Path | str = ".") -> list[str]:
    """Every problem with the configured inputs, DVC's outputs included (empty when all is well)."""
    params = read_params(Path(root) / "params.yaml")
    return (input_problems(params, root) + output_overlaps(params, dvc_outputs(root), root)
            + missing_inputs(params, enabled, root))
