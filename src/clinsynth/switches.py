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


def _key_line(mapping: Any, key: str, where: str) -> int:
    line, value_line = mapping.lc.key(key)[0], mapping.lc.value(key)[0]
    if value_line != line:
        raise ConfigError(f"params.yaml:{line + 1}: {where}.{key} spans several lines; write it on one line "
                          f"(e.g. `{key}: {{...}}`) or edit the block by hand")
    return line


def _block_edits(parent: Any, name: str, want: dict[str, str], where: str, lines: list[str],
                 values: dict[str, Any] | None = None) -> list[tuple]:
    """Edits making mapping ``parent[name]`` hold exactly the keys of ``want`` (new ones: ``key: want[key]``);
    with ``values``, a kept key whose value differs is rewritten too."""
    block = parent.get(name)
    header = parent.lc.key(name)[0]
    existing = list(block) if block else []
    edits: list[tuple] = []
    kept = [k for k in existing if k in want]
    for key in existing:
        if key not in want:
            edits.append(("delete", _key_line(block, key, where)))
        elif values is not None and dict(block[key]) != values[key]:
            line = _key_line(block, key, where)
            edits.append(("replace", line, f"{' ' * block.lc.key(key)[1]}{key}: {want[key]}\n"))
    added = [k for k in want if k not in existing]
    if added:
        if existing:
            col = block.lc.key(existing[0])[1]
            after = max(_key_line(block, k, where) for k in existing)
        else:
            col = len(lines[header]) - len(lines[header].lstrip()) + 2
            after = header
            edits.append(("replace", header, re.sub(r":\s*\{\s*\}", ":", lines[header], count=1)))
        edits.append(("insert", after, "".join(f"{' ' * col}{k}: {want[k]}\n" for k in added)))
    elif not kept:
        edits.append(("replace", header, re.sub(r":(\s*)(#.*)?$", r": {}\1\2", lines[header].rstrip("\n"), count=1)
                      + "\n"))
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
    edits: list[tuple] = []
    for recipe in NEEDS:
        value = f"[{recipe}]" if recipe in on else "[]"
        if recipe not in enabled:
            col = enabled.lc.key(next(iter(enabled)))[1]
            edits.append(("insert", max(_key_line(enabled, k, "recipes.enabled") for k in enabled),
                          f"{' ' * col}{recipe}: {value}\n"))
            continue
        line = _key_line(enabled, recipe, "recipes.enabled")
        new, n = re.subn(rf"^(\s*{recipe}\s*:\s*)(\[[^\]]*\])", rf"\g<1>{value}", lines[line], count=1)
        if not n:
            raise ConfigError(f"params.yaml:{line + 1}: recipes.enabled.{recipe}: expected `{recipe}: [...]`, "
                              f"found {lines[line].strip()!r}")
        edits.append(("replace", line, new))
    paths = _paths(data)
    slots = {r: {"first": paths[a], "second": paths[b]} for r, (a, b) in SAMPLE_READS.items() if r in on}
    reads = {r: f"{{first: {s['first']}, second: {s['second']}}}" for r, s in slots.items()}
    edits += _block_edits(recipes, "reads", reads, "recipes.reads", lines, slots)
    post = data["postprocess"]
    current = dict(post.get("corpora") or {})
    corpora = {c: r for c, r in current.items() if r not in NEEDS or r in on}
    for recipe in NEEDS:
        if recipe in on:
            corpora.update({c: r for c, r in CORPORA[recipe].items() if c not in corpora})
    edits += _block_edits(post, "corpora", corpora, "postprocess.corpora", lines)
    # bottom up, so earlier line numbers stay valid; at one line, replace before insert-after
    order = {"replace": 0, "delete": 0, "insert": 1}
    for kind, line, *rest in sorted(edits, key=lambda e: (e[1], order[e[0]]), reverse=True):
        if kind == "replace":
            lines[line] = rest[0]
        elif kind == "delete":
            del lines[line]
        else:
            lines.insert(line + 1, rest[0])
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
