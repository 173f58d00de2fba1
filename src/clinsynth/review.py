"""`clinsynth diff`: DVC metrics and params diffs as a Markdown comment for code review.

Reads ``dvc metrics diff --json`` and ``dvc params diff --json`` between two revisions (the second
defaults to the workspace) and renders, first, the paired comparisons whose verdict moved (helps / hurts /
no detectable difference, from each entry's numeric ``direction``), then one table per recipe, plus the
baseline-vs-augmented effect for every metric that has both a ``baseline`` and an ``augmented`` variant.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from clinsynth.errors import SetupError
from clinsynth.report.inputs import stem_recipe

RECIPES = ("rephrase", "kg_notes", "brat_augment", "retrieval", "fhir_qa")


@dataclasses.dataclass(frozen=True)
class MetricChange:
    file: str
    key: str
    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        if isinstance(self.old, (int, float)) and isinstance(self.new, (int, float)) and not isinstance(self.new, bool):
            return self.new - self.old
        return None


def recipe_of(metrics_file: str) -> str:
    """Group a metrics file under the recipe its name mentions; other stages go under 'pipeline'."""
    stem = Path(metrics_file).stem
    if stem_recipe(stem):  # named after their task (metrics/icd.json: kg_notes) or stage (train_ner_baseline)
        return stem_recipe(stem)
    return next((r for r in RECIPES if r in stem), "pipeline")


def _dvc(args: list[str], repo: Path) -> dict[str, Any]:
    dvc = str(Path(sys.executable).with_name("dvc"))
    proc = subprocess.run([dvc, *args, "--json"], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"dvc {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "{}")


def metric_changes(diff: dict[str, Any]) -> list[MetricChange]:
    """Flatten ``dvc metrics diff --json`` into changed metrics (unchanged ones are not listed by dvc)."""
    changes = []
    for file, keys in sorted(diff.items()):
        for key, values in sorted(keys.items()):
            if values.get("old") != values.get("new"):
                changes.append(MetricChange(file, key, values.get("old"), values.get("new")))
    return changes


def augmentation_effects(changes: list[MetricChange]) -> list[tuple[str, str, Any, Any]]:
    """(file, key with 'baseline'→'augmented', baseline value, augmented value) in the new revision."""
    by_key = {(c.file, c.key): c.new for c in changes}
    rows = []
    for (file, key), value in sorted(by_key.items()):
        parts = key.split(".")
        if "augmented" in parts:
            base_key = ".".join("baseline" if p == "augmented" else p for p in parts)
            if (file, base_key) in by_key:
                rows.append((file, key, by_key[(file, base_key)], value))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


VERDICT_OF_DIRECTION = {1: "helps", 0: "no detectable difference", -1: "hurts"}  # clinsynth.evaluation.paired


def verdict_moves(changes: list[MetricChange]) -> list[tuple[str, str, str, str]]:
    """(file, metric, old verdict, new verdict) for every paired comparison whose ``direction`` changed."""
    def name(value: Any) -> str:
        return VERDICT_OF_DIRECTION.get(value, "—") if isinstance(value, int | float) else "—"
    return [(c.file, c.key.removesuffix(".direction"), name(c.old), name(c.new))
            for c in changes if c.key.endswith(".direction")]


def render_markdown(changes: list[MetricChange], params: dict[str, Any], old_rev: str, new_rev: str) -> str:
    lines = [f"## clinsynth: `{old_rev}` → `{new_rev}`", ""]
    moves = verdict_moves(changes)
    if moves:  # first: whether the edit changed an answer to "does the synthetic corpus help?"
        lines += ["### Verdicts that moved", "", "| metrics file | metric | old verdict | new verdict |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {f} | `{k}` | {o} | **{n}** |" for f, k, o, n in moves] + [""]
    param_rows = [(f, k, v.get("old"), v.get("new")) for f, keys in sorted(params.items()) for k, v in sorted(keys.items())]
    if param_rows:
        lines += ["### Params", "", "| file | param | old | new |", "| --- | --- | --- | --- |"]
        lines += [f"| {f} | `{k}` | {_fmt(o)} | {_fmt(n)} |" for f, k, o, n in param_rows] + [""]
    if not changes:
        lines.append("No metric changed.")
        return "\n".join(lines) + "\n"
    groups: dict[str, list[MetricChange]] = {}
    for change in changes:
        groups.setdefault(recipe_of(change.file), []).append(change)
    for recipe in sorted(groups):
        lines += [f"### {recipe}", "", "| metrics file | metric | old | new | Δ |", "| --- | --- | --- | --- | --- |"]
        for c in groups[recipe]:
            delta = c.delta
            lines.append(f"| {c.file} | `{c.key}` | {_fmt(c.old)} | {_fmt(c.new)} | {'' if delta is None else f'{delta:+.4g}'} |")
        lines.append("")
    effects = augmentation_effects(changes)
    if effects:
        lines += ["### Augmentation effect (new revision)", "", "| metrics file | metric | baseline | augmented | Δ |",
                  "| --- | --- | --- | --- | --- |"]
        for file, key, base, aug in effects:
            delta = aug - base if isinstance(aug, (int, float)) and isinstance(base, (int, float)) else None
            lines.append(f"| {file} | `{key}` | {_fmt(base)} | {_fmt(aug)} | {'' if delta is None else f'{delta:+.4g}'} |")
        lines.append("")
    return "\n".join(lines)


def review_diff(old_rev: str = "HEAD", new_rev: str | None = None, repo: Path | str = ".") -> str:
    """Markdown for a pull-request comment: params and metrics that changed between two revisions."""
    revs = [old_rev] + ([new_rev] if new_rev else [])
    repo = Path(repo)
    metrics = _dvc(["metrics", "diff", *revs], repo)
    params = _dvc(["params", "diff", *revs], repo)
    return render_markdown(metric_changes(metrics), params, old_rev, new_rev or "workspace")
