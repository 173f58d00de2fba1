"""dvc.yaml lists what each stage runs: its import closure in deps, and base.profile where a profile changes a value.

The stages are read through DVC itself (foreach and ${...} resolved), so the tests see what `dvc repro` sees.
"""

from __future__ import annotations

import ast
import shlex
from functools import cache
from pathlib import Path

import pytest
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

from clinsynth.devtools.imports import import_closure
from clinsynth.params import read_params
from clinsynth.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
ROOTS = [ROOT / "stages", ROOT / "src"]  # sys.path of `python stages/x.py`: the script's folder, then the package
RECIPE_TEMPLATE = "clinsynth.recipes.{}"  # load_recipe and quality.checks.recipe_check import a recipe by name
# Modules loaded by path, which no import statement shows: evaluate.load(<file>) runs a metric script.
LOADS = {ROOT / "src/clinsynth/fhir/answers.py": [ROOT / "src/clinsynth/evaluation/meteor.py",
                                                 ROOT / "src/clinsynth/evaluation/rouge.py"]}


@cache
def stages() -> dict[str, object]:
    with Repo(str(ROOT)) as repo:
        return {stage.addressing: stage for stage in repo.index.stages}


def script_and_args(stage) -> tuple[Path, list[str]]:
    words = shlex.split(stage.cmd)
    assert words[0] == "python" and words[1].startswith("stages/"), \
        f"stage {stage.addressing}: cmd {stage.cmd!r}; expected 'python stages/<name>.py ...'"
    return ROOT / words[1], words[2:]


def stage_recipes(script: Path, args: list[str]) -> list[str]:
    """The recipe a stage imports by name: its argument (sample@R, generate@R), or for postprocess@C the
    recipe whose prompts corpus C answers (params.yaml postprocess.corpora); none for the other stages,
    which import their recipe modules by plain imports."""
    if not args:
        return []
    if script.name == "postprocess.py":
        return [read_params(ROOT / "params.yaml")["postprocess"]["corpora"][args[0]]]
    return [args[0]] if args[0] in RECIPES else []


def file_deps(stage) -> list[str]:
    return [dep.def_path for dep in stage.deps if not isinstance(dep, ParamsDependency)]


def closure_of(stage) -> set[str]:
    script, args = script_and_args(stage)
    closure = import_closure(script, ROOTS, {RECIPE_TEMPLATE: stage_recipes(script, args)}, LOADS)
    unknown = [str(d) for d in closure.unresolved if d.template != RECIPE_TEMPLATE]
    assert not unknown, (f"stage {stage.addressing}: imports by a computed name that this test cannot follow: "
                         f"{unknown}; teach stage_recipes (tests/test_stage_deps.py) which modules they load")
    return {str(path.relative_to(ROOT)) for path in closure.files}


def covers(dep: str, path: str) -> bool:
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def is_code_dep(dep: str) -> bool:
    """A dep that names project code: a .py file, or a folder holding some (not data such as src/clinsynth/data/)."""
    path = ROOT / dep
    return dep.startswith(("src/", "stages/")) and (
        dep.endswith(".py") or (path.is_dir() and any(path.rglob("*.py"))))


def deps_problems(name: str, instances: list) -> list[str]:
    """Problems of one stage definition: ``name`` and its ``instances`` (one, or one per foreach item).

    Each instance must depend on every file it imports. A foreach shares one deps list, so a dep is stale
    only when no instance imports it (sample@kg_notes keeps the chunk sampler that sample@rephrase imports).
    """
    closures = {stage.addressing: closure_of(stage) for stage in instances}
    problems = []
    for stage in instances:
        deps = file_deps(stage)
        missing = sorted(p for p in closures[stage.addressing] if not any(covers(d, p) for d in deps))
        if missing:
            problems.append(f"  {stage.addressing}: imports but does not depend on {missing}")
    used = set().union(*closures.values())
    stale = sorted({d for stage in instances for d in file_deps(stage)
                    if is_code_dep(d) and not any(covers(d, p) for p in used)})
    if stale:
        problems.append(f"  {name}: depends on code no instance imports {stale}")
    return problems


def definitions() -> dict[str, list]:
    """Stage instances grouped by their dvc.yaml definition (``pretrain@real`` -> ``pretrain``)."""
    groups: dict[str, list] = {}
    for address, stage in stages().items():
        groups.setdefault(address.partition("@")[0], []).append(stage)
    return groups


def test_every_stage_depends_on_exactly_the_code_it_imports():
    problems = [line for name, instances in definitions().items() for line in deps_problems(name, instances)]
    assert not problems, ("dvc.yaml deps disagree with the stage scripts' import closures (a missing dep: editing "
                          "that module leaves the stage 'up to date'; a stale one reruns it for nothing); edit the "
                          "stage's deps:\n" + "\n".join(problems))


def test_closure_follows_the_recipe_imported_by_name_and_stage_imports():
    closures = {name: closure_of(stage) for name, stage in stages().items()
                if name in ("postprocess@kg_notes_lora", "sample@rephrase", "embed_kg_notes")}
    assert "src/clinsynth/recipes/kg_notes.py" in closures["postprocess@kg_notes_lora"]
    assert "src/clinsynth/quality/gates.py" in closures["postprocess@kg_notes_lora"]
    assert "src/clinsynth/recipes/kg_notes.py" not in closures["sample@rephrase"]
    assert {"src/clinsynth/recipes/rephrase.py", "src/clinsynth/recipes/__init__.py"} <= closures["sample@rephrase"]
    assert "stages/train_icd.py" in closures["embed_kg_notes"]


def test_every_load_by_path_is_listed():
    """LOADS must name every module that loads another by path, or its closure would miss that file."""
    loaders = {path for path in (ROOT / "src").rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and ast.unparse(node.func) == "evaluate.load"}
    assert loaders == set(LOADS), f"modules calling evaluate.load: {sorted(map(str, loaders))}; add them to LOADS"
    assert all(path.is_file() for loaded in LOADS.values() for path in loaded)
