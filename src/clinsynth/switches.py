"""`clinsynth recipes`: switch recipes on and off in params.yaml, with the lists that must follow in step.

Three blocks of params.yaml name the enabled recipes: the switches ``recipes.enabled.R`` (``[R]`` on, ``[]``
off: every stage of R loops over it), ``recipes.reads`` (``sample@R`` and ``generate@R`` loop over it) and
``postprocess.corpora`` (``postprocess@C``). :func:`switch_recipes` rewrites the lines of those blocks only, as
text, so every other line and comment of the file stays byte-identical (a YAML round trip would reflow the long
flow mappings and drop the explicit nulls). ruamel.yaml only says on which line each key sits.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clinsynth.inputs import CORPORA, NEEDS, SAMPLE_READS, enabled_recipes, load_recipes
from clinsynth.params import ConfigError, Paths, read_params


def _paths(data: Any) -> dict[str, str]:
    given = dict(((data.get("base") or {}).get("paths") or {}))
    return {f.name: str(given.get(f.name, f.default)) for f in dataclasses.fields(Paths)}


def _span(mapping: Any, key: str, lines: list[str]) -> tuple[int, int]:
    """Lines [start, end) of ``key`` and its value: the key's line and the deeper-indented lines below it
    (a block-style list or mapping as a YAML dump writes it)."""
    start, col = mapping.lc.key(key)
    end = start + 1
    def inside(line: str) -> bool:  # deeper, or a block list item at the key's own indent (YAML allows it)
        indent = len(line) - len(line.lstrip())
        return not line.strip() or indent > col or (indent == col and line.lstrip().startswith("- "))

    while end < len(lines) and inside(lines[end]):
        end += 1
    while end - 1 > start and not lines[end - 1].strip():  # blank lines after the block stay
        end -= 1
    return start, end


def _entry(mapping: Any, key: str, value: str) -> str:
    return f"{' ' * mapping.lc.key(key)[1]}{key}: {value}\n"


def _block_edits(parent: Any, name: str, want: dict[str, str], lines: list[str],
                 values: dict[str, Any] | None = None) -> list[tuple[int, int, str]]:
    """Edits (replace lines [start, end) by text) making mapping ``parent[name]`` hold exactly the keys of
    ``want`` (an added or, with ``values``, a differing one written ``key: want[key]``)."""
    block = parent.get(name)
    header = parent.lc.key(name)[0]
    existing = list(block) if block else []
    edits = []
    for key in existing:
        if key not in want:
            edits.append((*_span(block, key, lines), ""))
        elif values is not None and dict(block[key]) != values[key]:
            edits.append((*_span(block, key, lines), _entry(block, key, want[key])))
    added = [k for k in want if k not in existing]
    indent = " " * (len(lines[header]) - len(lines[header].lstrip()))
    if added and existing:
        col = block.lc.key(existing[0])[1]
        end = max(_span(block, k, lines)[1] for k in existing)
        edits.append((end, end, "".join(f"{' ' * col}{k}: {want[k]}\n" for k in added)))
    elif added:  # `name: {}` (or empty): the header alone, then the entries
        edits.append((header, header + 1, f"{indent}{name}:\n" + "".join(f"{indent}  {k}: {want[k]}\n" for k in added)))
    elif not [k for k in existing if k in want]:  # nothing left: `name: {}` (its comment lines go too)
        comment = re.search(r"\s+#.*$", lines[header].rstrip("\n"))
        return [(header, _span(parent, name, lines)[1], f"{indent}{name}: {{}}{comment.group(0) if comment else ''}\n")]
    return edits


def switch_recipes(text: str, on: Iterable[str]) -> str:
    """``text`` (params.yaml) with exactly the recipes ``on`` switched on, reads and corpora in step."""
    import ruamel.yaml

    on = set(on)
    unknown = sorted(on - set(NEEDS))
    if unknown:
        raise ConfigError(f"unknown recipe {unknown[0]!r}; known recipes: {', '.join(NEEDS)}")
    data = ruamel.yaml.YAML().load(text)
    lines = text.splitlines(keepends=True)
    recipes = data["recipes"]
    enabled = recipes["enabled"]
    switches = {r: f"[{r}]" if r in on else "[]" for r in NEEDS}
    edits = []
    for recipe in NEEDS:
        if recipe in enabled:
            start, end = _span(enabled, recipe, lines)
            kept = re.match(rf"^\s*{recipe}\s*:\s*\[[^\]]*\](.*)$", lines[start].rstrip("\n"))  # a flow list
            comment = kept.group(1) if kept and end == start + 1 else ""
            edits.append((start, end, _entry(enabled, recipe, switches[recipe]).rstrip("\n") + comment + "\n"))
    edits += [e for e in _block_edits(recipes, "enabled", switches, lines) if e[0] == e[1]]  # switches added
    paths = _paths(data)
    slots = {r: {"first": paths[a], "second": paths[b]} for r, (a, b) in SAMPLE_READS.items() if r in on}
    # params.yaml says each path once: base.paths.<key> carries the anchor &<key>, reads use the alias
    ref = {key: f"*{key}" if re.search(rf"&{key}\b", text) else value for key, value in paths.items()}
    reads = {r: f"{{first: {ref[a]}, second: {ref[b]}}}" for r, (a, b) in SAMPLE_READS.items() if r in on}
    edits += _block_edits(recipes, "reads", reads, lines, slots)
    post = data["postprocess"]
    current = dict(post.get("corpora") or {})
    corpora = {c: r for c, r in current.items() if r not in NEEDS or r in on}
    for recipe in NEEDS:
        if recipe in on:
            corpora.update({c: r for c, r in CORPORA[recipe].items() if c not in corpora})
    edits += _block_edits(post, "corpora", corpora, lines)
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):  # bottom up: earlier lines keep
        lines[start:end] = [new] if new else []                                       # their numbers
    return "".join(lines)


def recipes_command(names: list[str], only: bool, on: bool, off: bool, path: Path | str = "params.yaml") -> str:
    """Switch recipes in ``path`` (``only``: exactly ``names``; ``on`` / ``off``: add / remove them) and return
    what is on; with no mode just report. The new file is checked as params load checks it before it is kept."""
    path = Path(path)
    current = enabled_recipes(read_params(path))  # unchecked: this command is how a file out of step is mended
    if sum((only, on, off)) > 1:
        raise ConfigError("give one of --only, --on, --off")
    if not (only or on or off):
        if names:
            raise ConfigError("name the recipes with --only, --on or --off (e.g. `clinsynth recipes --only rephrase`)")
        wanted = load_recipes(path).on
    else:
        wanted = names if only else [*current, *names] if on else [r for r in current if r not in names]
        unknown = [r for r in names if r not in NEEDS]
        if unknown:
            raise ConfigError(f"unknown recipe {unknown[0]!r}; known recipes: {', '.join(NEEDS)}")
        old = path.read_text(encoding="utf-8")
        path.write_text(switch_recipes(old, wanted), encoding="utf-8")
        try:
            load_recipes(path)
        except ConfigError:
            path.write_text(old, encoding="utf-8")
            raise
    on_now = [r for r in NEEDS if r in wanted]
    return (f"recipes on: {', '.join(on_now) or 'none'}; off: "
            f"{', '.join(r for r in NEEDS if r not in wanted) or 'none'}")
