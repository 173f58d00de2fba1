"""dvc.yaml lists what each stage runs: its import closure in deps, and base.profile where a profile changes a value.

The stages are read through DVC itself (foreach and ${...} resolved), so the tests see what `dvc repro` sees.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

from clinsynth.devtools.imports import LOADS as RELATIVE_LOADS
from clinsynth.devtools.imports import import_closure
from clinsynth.devtools.profiles import varies_by_profile
from clinsynth.params import read_params

ROOT = Path(__file__).resolve().parents[1]
ROOTS = [ROOT / "stages", ROOT / "src"]  # sys.path of `python stages/x.py`: the script's folder, then the package
# Modules loaded by path, which no import statement shows: evaluate.load(<file>) runs a metric script.
LOADS = {ROOT / k: [ROOT / v for v in vs] for k, vs in RELATIVE_LOADS.items()}
DEFINITIONS = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
# Blocks being restructured on main (demo outputs to data/demo/, per-recipe sample deps) when these tests were
# written: expected to fail until their deps/params are fixed there; strict, so a fixed block fails here until
# its name is removed.
PENDING: dict[str, set[str]] = {"deps": set(), "profile": set()}  # definitions known to fail a check (strict xfail)


def definition_params(check: str) -> list:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="restructured on main; see PENDING"))
            if name in PENDING[check] else name for name in DEFINITIONS]


@cache
def stages() -> dict[str, object]:
    with Repo(str(ROOT)) as repo:
        return {stage.addressing: stage for stage in repo.index.stages}


def script_and_args(stage) -> tuple[Path, list[str]]:
    words = shlex.split(stage.cmd)
    assert words[0] == "python" and words[1].startswith("stages/"), \
        f"stage {stage.addressing}: cmd {stage.cmd!r}; expected 'python stages/<name>.py ...'"
    return ROOT / words[1], words[2:]


def file_deps(stage) -> list[str]:
    return [dep.def_path for dep in stage.deps if not isinstance(dep, ParamsDependency)]


def closure_of(stage) -> set[str]:
    script, args = script_and_args(stage)
    closure = import_closure(script, ROOTS, {}, LOADS)
    unknown = [str(d) for d in closure.unresolved]
    assert not unknown, (f"stage {stage.addressing}: imports by a computed name, which a DVC dependency list "
                         f"cannot follow: {unknown}; import the module statically")
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


@pytest.mark.parametrize("name", definition_params("deps"))
def test_every_stage_depends_on_exactly_the_code_it_imports(name):
    problems = deps_problems(name, definitions()[name])
    assert not problems, ("dvc.yaml deps disagree with the stage scripts' import closures (a missing dep: editing "
                          "that module leaves the stage 'up to date'; a stale one reruns it for nothing); edit the "
                          "stage's deps:\n" + "\n".join(problems))


def test_closure_follows_the_recipe_registry_and_stage_imports():
    closures = {name: closure_of(stage) for name, stage in stages().items()
                if name in ("postprocess@kg_notes_lora", "sample@rephrase", "embed_kg_notes@kg_notes")}
    assert "src/clinsynth/recipes/kg_notes.py" in closures["postprocess@kg_notes_lora"]
    assert "src/clinsynth/quality/gates.py" in closures["postprocess@kg_notes_lora"]
    assert {"src/clinsynth/recipes/rephrase.py", "src/clinsynth/recipes/__init__.py"} <= closures["sample@rephrase"]
    # embed_kg_notes shares train_icd's section through the library config, not by importing another stage
    assert "src/clinsynth/training/icd.py" in closures["embed_kg_notes@kg_notes"]
    assert "stages/train_icd.py" not in closures["embed_kg_notes@kg_notes"]


def test_dvc_yaml_code_deps_are_in_sync():
    """scripts/sync_deps.py --check: what `make sync-deps` would rewrite (run it after moving code)."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts/sync_deps.py"), "--check"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert run.returncode == 0, run.stdout + run.stderr


def test_import_closure_on_a_small_tree(tmp_path):
    files = {"src/pkg/__init__.py": "from pkg.a import f\n",
             "src/pkg/a.py": "def f():\n    from . import b  # inside a function\n",
             "src/pkg/b.py": "import json\nfrom pkg.sub import c\n",
             "src/pkg/sub/__init__.py": "", "src/pkg/sub/c.py": "", "src/pkg/unused.py": "",
             "src/pkg/plugins/__init__.py": "", "src/pkg/plugins/p1.py": "", "src/pkg/plugins/p2.py": "",
             "src/pkg/load.py": "import importlib\ndef load(n):\n    return importlib.import_module(f'pkg.plugins.{n}')\n",
             "stages/helper.py": "", "stages/run.py": "import helper\nfrom pkg.b import x\nimport pkg.load\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    roots = [tmp_path / "stages", tmp_path / "src"]
    closure = import_closure(tmp_path / "stages/run.py", roots, {"pkg.plugins.{}": ["p2"]})
    assert {str(p.relative_to(tmp_path)) for p in closure.files} == {
        "stages/run.py", "stages/helper.py", "src/pkg/__init__.py", "src/pkg/a.py", "src/pkg/b.py",
        "src/pkg/sub/__init__.py", "src/pkg/sub/c.py", "src/pkg/load.py", "src/pkg/plugins/__init__.py",
        "src/pkg/plugins/p2.py"}
    unresolved = import_closure(tmp_path / "stages/run.py", roots).unresolved
    assert [(d.file.name, d.line, d.template) for d in unresolved] == [("load.py", 3, "pkg.plugins.{}")]


def test_every_load_by_path_is_listed():
    """LOADS must name every module that loads another by path, or its closure would miss that file."""
    loaders = {path for path in (ROOT / "src").rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and ast.unparse(node.func) == "evaluate.load"}
    assert loaders == set(LOADS), f"modules calling evaluate.load: {sorted(map(str, loaders))}; add them to LOADS"
    assert all(path.is_file() for loaded in LOADS.values() for path in loaded)


# --- params: base.profile where a profile changes a value, and every section the script reads ---

def params_keys(stage) -> list[str]:
    deps = [dep for dep in stage.deps if isinstance(dep, ParamsDependency)]
    assert all(dep.def_path == "params.yaml" for dep in deps), f"{stage.addressing}: params from another file"
    return [key for dep in deps for key in dep.params]


def params_value(params: dict, key: str):
    value = params
    for part in key.split("."):
        assert isinstance(value, dict) and part in value, f"params.yaml has no {key!r} (listed in dvc.yaml)"
        value = value[part]
    return value


def profile_dependent_keys(stage, params: dict) -> list[str]:
    """The listed params keys whose value (anything inside) differs between two profiles."""
    return sorted(k for k in params_keys(stage) if k != "base.profile" and varies_by_profile(params_value(params, k)))


@pytest.mark.parametrize("definition", definition_params("profile"))
def test_a_stage_lists_base_profile_iff_a_listed_value_depends_on_it(definition):
    params = read_params(ROOT / "params.yaml")
    wrong = []
    for stage in definitions()[definition]:
        name = stage.addressing
        varying, lists = profile_dependent_keys(stage, params), "base.profile" in params_keys(stage)
        if varying and not lists:
            wrong.append(f"  {name}: {varying} differ between profiles; add base.profile to its params "
                         f"(else switching the profile leaves it 'up to date')")
        elif lists and not varying:
            wrong.append(f"  {name}: lists base.profile, but none of its params differ between profiles; remove it")
    assert not wrong, "dvc.yaml params and profiles disagree:\n" + "\n".join(wrong)


def sections_read(script: Path, args: list[str]) -> set[str]:
    """The params keys a stage script reads: load_params("S", ...) -> S, load_recipe_params("S", R, ...) -> S.R
    (R: the stage's argument), read_params()["S"]["k"] -> S.k, base.seed -> base.seed. Statically, from the
    script alone: stages read params in main(), never in the library (which takes configs)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}

    def literal(arg: ast.expr) -> str:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name) and arg.id in constants:
            return constants[arg.id]
        if isinstance(arg, ast.Name) and args:  # the recipe name: the stage's argument
            return args[0]
        raise AssertionError(f"{script.name}:{arg.lineno}: cannot tell which params {ast.unparse(arg)} names")

    keys = set()
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}  # x in x["k"]: part of a longer key
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "load_params":
                keys.add(literal(node.args[0]))
            elif node.func.id == "load_recipe_params":
                keys.add(f"{literal(node.args[0])}.{literal(node.args[1])}")
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Store):
            chain, root = [], node
            while isinstance(root, ast.Subscript):
                chain.insert(0, root.slice)
                root = root.value
            if isinstance(root, ast.Call) and ast.unparse(root.func) == "read_params" and id(node) not in inner:
                keys.add(".".join(literal(part) for part in chain))
        elif isinstance(node, ast.Attribute) and ast.unparse(node) == "base.seed":
            keys.add("base.seed")
    return {key for key in keys if key}


def listed_covers(listed: list[str], key: str) -> bool:
    """``key`` is read whole or in part through the listed keys (a stage may list just the fields it uses)."""
    return any(k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in listed)


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_every_stage_lists_the_params_its_script_reads(definition):
    missing = []
    for stage in definitions()[definition]:
        name = stage.addressing
        script, args = script_and_args(stage)
        listed = params_keys(stage)
        unlisted = sorted(k for k in sections_read(script, args) if not listed_covers(listed, k))
        if unlisted:
            missing.append(f"  {name}: {script.name} reads {unlisted}, not in its params")
    assert not missing, "dvc.yaml params miss what the scripts read (editing them reruns nothing):\n" + \
                        "\n".join(missing)


def test_sections_read_finds_each_way_a_script_reads_params():
    by_name = stages()
    assert sections_read(*script_and_args(by_name["sample@kg_notes"])) == {"sample.kg_notes", "base.seed"}
    assert sections_read(*script_and_args(by_name["fhir_ingest@fhir_qa"])) == {"fhir_ingest", "ingest.split_fractions",
                                                                         "base.seed"}
    assert sections_read(*script_and_args(by_name["embed_kg_notes@kg_notes"])) >= {"train_icd"}
    assert sections_read(*script_and_args(by_name["evaluate_fhir_qa@fhir_qa"])) >= {"evaluate_fhir_qa", "generate"}


@pytest.mark.parametrize(("value", "varies"), [
    ({"demo": 1, "full": 2}, True), ({"demo": 1, "full": 1}, False), ({"a": [{"demo": "x", "full": "y"}]}, True),
    ({"train": {"demo": 60, "full": None}}, True), ({"demo_size": 1}, False), (3, False)])
def test_varies_by_profile(value, varies):
    assert varies_by_profile(value) is varies


def test_a_profile_without_an_entry_falls_back_to_demo():
    assert not varies_by_profile({"demo": 1, "full": 2}, profiles=("demo", "ci"))
    assert varies_by_profile({"demo": 1, "ci": 2}, profiles=("demo", "full", "ci"))


def test_every_definition_is_checked():
    assert set(DEFINITIONS) == set(definitions()), "dvc.yaml stages and DVC's resolved stages disagree"
    assert set().union(*PENDING.values()) <= set(DEFINITIONS), "PENDING names a stage dvc.yaml no longer has"


# --- with DVC itself: flipping the profile reruns the stages the rule above predicts ---


def record_params(repo: Path, params: dict) -> list[str]:
    """Record in dvc.lock each stage's listed params at today's values, as `dvc repro` would, whether or not the
    committed lock is current (a stage added, a key listed or a value edited since it was written; a stage with
    no entry gets one with just cmd and params). DVC then compares every stage's params, without any outputs.
    Returns the stages that had no lock entry."""
    lock_path = repo / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else {"schema": "2.0", "stages": {}}
    added = [name for name in stages() if name not in lock["stages"]]
    for name, stage in stages().items():
        entry = lock["stages"].setdefault(name, {"cmd": stage.cmd})
        entry["params"] = {"params.yaml": {key: params_value(params, key) for key in params_keys(stage)}}
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))
    return added


def dvc_status(repo: Path) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(Path(sys.executable).with_name("dvc")), "status", "--json"], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout or "{}")


def stages_seeing_a_params_change(repo: Path) -> dict[str, dict]:
    """stage -> its changed params.yaml keys, from `dvc status --json`."""
    changed = {}
    for name, entries in dvc_status(repo).items():
        for entry in entries:
            params = entry.get("changed deps", {}).get("params.yaml", {}) if isinstance(entry, dict) else {}
            if params:
                changed[name] = params
    return changed


@pytest.mark.slow
def test_flipping_the_profile_makes_dvc_rerun_exactly_the_predicted_stages(tmp_path, copy_checkout):
    repo = copy_checkout(tmp_path / "repo")
    params = read_params(repo / "params.yaml")
    assert params["base"]["profile"] == "demo"
    record_params(repo, params)
    assert stages_seeing_a_params_change(repo) == {}, "before the flip every stage's params match dvc.lock"

    text = (repo / "params.yaml").read_text()
    flipped = re.sub(r"^(  profile:\s*)demo\b", r"\1full", text, count=1, flags=re.M)
    assert flipped != text
    (repo / "params.yaml").write_text(flipped)
    changed = stages_seeing_a_params_change(repo)

    assert all(keys == {"base.profile": "modified"} for keys in changed.values()), changed
    predicted = {name for name, stage in stages().items() if profile_dependent_keys(stage, params)}
    pending = {name for name in stages() if name.partition("@")[0] in PENDING["profile"]}
    seen = set(changed) - pending
    assert seen == predicted - pending, (f"values differ between profiles but dvc status does not rerun: "
                                         f"{sorted(predicted - pending - seen)}; dvc status reruns although no value "
                                         f"differs: {sorted(seen - predicted)}")
    assert predicted - pending and set(stages()) - predicted, "both kinds of stage are exercised"


def record_code_deps(repo: Path) -> None:
    """Record in dvc.lock each stage's code deps (files under src/ and stages/) at their current hashes, as
    `dvc repro` would: the committed lock may predate a dep (a stage then shows it as changed already)."""
    lock_path = repo / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    for name, stage in stages().items():
        entry = lock["stages"].setdefault(name, {"cmd": stage.cmd})
        recorded = {dep["path"]: dep for dep in entry.get("deps", [])}
        for path in file_deps(stage):
            if path.startswith(("src/", "stages/")) and (repo / path).is_file():
                data = (repo / path).read_bytes()
                recorded[path] = {"path": path, "hash": "md5", "md5": hashlib.md5(data).hexdigest(), "size": len(data)}
        entry["deps"] = list(recorded.values())
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))


def stages_seeing_a_dep_change(repo: Path, path: str) -> set[str]:
    return {name for name, entries in dvc_status(repo).items() for entry in entries
            if isinstance(entry, dict) and path in entry.get("changed deps", {})}


@pytest.mark.slow
def test_editing_a_module_makes_dvc_rerun_the_stages_that_import_it(tmp_path, copy_checkout):
    """The issue's case: editing the hard limits (quality/gates.py) must rerun postprocess@*, not leave it
    'up to date' -- and every other stage whose import closure holds gates.py."""
    repo = copy_checkout(tmp_path / "repo")
    gates = "src/clinsynth/quality/gates.py"
    record_code_deps(repo)
    assert stages_seeing_a_dep_change(repo, gates) == set()
    (repo / gates).write_text((repo / gates).read_text() + "\n# edited\n")
    seen = stages_seeing_a_dep_change(repo, gates)

    postprocess = {name for name in stages() if name.startswith("postprocess@")}
    assert postprocess and postprocess <= seen
    # a foreach shares one deps list, so every instance of a definition with an importer reruns
    # (sample@rephrase reruns for kg_notes' import of quality: the cost of DVC's shared foreach deps)
    importing = {name.partition("@")[0] for name, stage in stages().items() if gates in closure_of(stage)}
    importers = {name for name in stages() if name.partition("@")[0] in importing}
    pending = {name for name in stages() if name.partition("@")[0] in PENDING["deps"]}
    assert seen - pending == importers - pending


# --- plots and dvc.lock ---

def test_each_plot_file_has_one_definition_and_is_a_git_tracked_output():
    """`dvc plots show` draws each file once (a top-level definition, never also a stage-level `plots:`) from a
    `cache: false` output that git keeps, so it works on a fresh clone without `dvc pull`."""
    with Repo(str(ROOT)) as repo:
        top = {file: name for definitions in repo.index._plots.values() for definition in definitions
               for name, spec in definition.items()
               for file in (spec.get("y") if isinstance(spec.get("y"), dict) else [name])}
        outs = {out.def_path: (stage.addressing, out) for stage in repo.index.stages for out in stage.outs}
    assert top, "dvc.yaml has top-level plots"
    twice = sorted(path for path, (_, out) in outs.items() if out.plot and path in top)
    assert not twice, f"drawn by a stage-level plots: and a top-level plot ({twice}); declare them under outs:"
    for path, name in top.items():
        assert path in outs, f"plot {name!r} reads {path}, which no stage writes"
        stage, out = outs[path]
        assert not out.use_cache, f"plot {name!r} reads {path}, a cached output of {stage}; give it cache: false"
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0
        assert not ignored, f"plot {name!r} reads {path}, which git ignores; remove it from the .gitignore"


def test_dvc_lock_holds_only_stages_dvc_yaml_defines():
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    stale = sorted(set(locked) - set(stages()))
    assert not stale, f"dvc.lock has stages dvc.yaml no longer defines: {stale}; delete their entries"
