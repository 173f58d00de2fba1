"""Rewrite the code deps of every dvc.yaml stage to its scripts' import closure (data deps untouched).

    .venv/bin/python scripts/sync_deps.py           # rewrite dvc.yaml in place, print what changed
    .venv/bin/python scripts/sync_deps.py --check   # exit 1 if a stage's code deps differ (no write)

The closure is what tests/test_stage_deps.py checks (clinsynth.devtools.imports, stages read through DVC so
foreach and ${...} are resolved); a foreach definition gets the union of its instances' closures. Comments,
the order of the deps kept and every non-code dep (data files, ${...} paths, data folders) keep their
place; a new code dep is inserted after the last code dep, so a rewrite is a small diff.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo
from ruamel.yaml import YAML

from clinsynth.devtools.imports import LOADS, import_closure

ROOT = Path(__file__).resolve().parents[1]
ROOTS = [ROOT / "stages", ROOT / "src"]


def closure(stage) -> set[str]:
    script = ROOT / stage.cmd.split()[1]
    found = import_closure(script, ROOTS, {}, {ROOT / k: [ROOT / v for v in vs] for k, vs in LOADS.items()})
    if found.unresolved:
        sys.exit(f"{stage.addressing}: imports by a computed name: {[str(d) for d in found.unresolved]}")
    return {str(p.relative_to(ROOT)) for p in found.files}


def is_code(dep: str) -> bool:
    return dep.startswith(("src/", "stages/")) and dep.endswith(".py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    args = parser.parse_args()
    with Repo(str(ROOT)) as repo:
        instances: dict[str, set[str]] = {}
        for stage in repo.index.stages:
            instances.setdefault(stage.addressing.partition("@")[0], set()).update(closure(stage))
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # dvc.yaml's own layout, so a rewrite touches only deps lines
    path = ROOT / "dvc.yaml"
    doc = yaml.load(path.read_text())
    changed = []
    for name, definition in doc["stages"].items():
        body = definition.get("do", definition)
        if name not in instances or "deps" not in body:
            continue
        old = [str(d) for d in body["deps"]]
        if len(set(old)) != len(old):  # a merge may leave a dep listed twice
            old = list(dict.fromkeys(old))
            body["deps"].clear()
            body["deps"].extend(old)
            changed.append(f"{name}: duplicates removed")
        # stale code deps leave their place, new ones follow the last code dep: a rewrite is a small diff
        kept = [d for d in old if not is_code(d) or d in instances[name]]
        added = sorted(instances[name] - set(old))
        last = max((i for i, d in enumerate(kept) if is_code(d)), default=-1)
        new = kept[:last + 1] + added + kept[last + 1:]
        if new != old:
            gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
            changed.append(f"{name}: +{added} -{gone}" if (gone or added) else f"{name}: reordered")
            if not args.check:
                body["deps"].clear()
                body["deps"].extend(new)
    if not args.check and changed:
        with path.open("w") as fh:
            yaml.dump(doc, fh)
    print("\n".join(changed) or "dvc.yaml: every stage's code deps match its import closure")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
