"""The project files a script runs: its transitive import closure, computed statically with :mod:`ast`.

``import_closure(Path("stages/postprocess.py"), roots=[Path("stages"), Path("src")])`` returns every
``.py`` file under ``roots`` that running the script can import: each ``import``/``from ... import``
anywhere in a file (inside functions too; ``if TYPE_CHECKING:`` blocks included, which errs on the safe
side), each parent package's ``__init__.py`` (Python executes it first), and ``from pkg import name``
where ``name`` is a submodule. Modules outside ``roots`` (stdlib, third party) are ignored.

Imports by name, ``importlib.import_module(f"clinsynth.recipes.{name}")``, cannot be followed
statically: each becomes a :class:`DynamicImport` whose ``template`` has ``{}`` for the computed part
(``"clinsynth.recipes.{}"``). Pass ``dynamic={template: [values]}`` to follow it with those values
(the caller knows which recipe a stage runs); the ones not passed come back in
:attr:`Closure.unresolved`, so a caller can fail on an import it does not know. Files loaded by path
(``evaluate.load(str(METRICS_DIR / "meteor.py"))``) are invisible too: pass them as ``loads={file: [loaded]}``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class DynamicImport:
    file: Path
    line: int
    template: str  # the module name with "{}" for each computed part; "{}" alone if none is constant

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: importlib.import_module({self.template!r})"


@dataclasses.dataclass(frozen=True)
class Closure:
    files: frozenset[Path]  # every project file the script can import, the script itself included
    unresolved: tuple[DynamicImport, ...]  # imports by name that no ``dynamic`` entry covered


def module_files(name: str, roots: Sequence[Path]) -> list[Path]:
    """The files importing ``name`` executes: each package's ``__init__.py`` on the way, then the module.

    Empty if ``name`` is not under one of ``roots`` (the first root holding its top-level name wins,
    as on ``sys.path``).
    """
    parts = name.split(".")
    for root in roots:
        if (root / parts[0]).is_dir() or (root / f"{parts[0]}.py").is_file():
            break
    else:
        return []
    files, folder = [], root
    for part in parts:
        if (folder / part / "__init__.py").is_file():
            files.append(folder / part / "__init__.py")
        elif (folder / f"{part}.py").is_file():
            files.append(folder / f"{part}.py")
            break  # a module has no submodules; a deeper name is an attribute
        elif not (folder / part).is_dir():  # neither a package nor a namespace package: stop here
            break
        folder = folder / part
    return files


def module_name(path: Path, roots: Sequence[Path]) -> str | None:
    """The dotted name of ``path`` under one of ``roots`` (``src/clinsynth/kg/__init__.py`` -> ``clinsynth.kg``)."""
    for root in roots:
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def imported_names(tree: ast.AST, package: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The module names ``tree`` imports (``from a import b`` gives ``a`` and ``a.b``: b may be a module),
    and ``(line, template)`` for each ``import_module(...)`` call. ``package``: for relative imports."""
    names, dynamic = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            dynamic.append((node.lineno, _template(node.args[0])))
    return [n for n in names if n], dynamic


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
           (isinstance(func, ast.Name) and func.id == "import_module")


def _template(arg: ast.expr) -> str:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values)
    return "{}"


def import_closure(script: Path, roots: Sequence[Path], dynamic: Mapping[str, Iterable[str]] | None = None,
                   loads: Mapping[Path, Iterable[Path]] | None = None) -> Closure:
    """Every file under ``roots`` that running ``script`` can import (see the module docstring)."""
    dynamic = {template: list(values) for template, values in (dynamic or {}).items()}
    loads = loads or {}
    seen, unresolved, todo = set(), [], [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        name = module_name(path, roots) or path.stem
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        names, calls = imported_names(ast.parse(path.read_text(encoding="utf-8"), str(path)), package)
        for line, template in calls:
            if "{}" not in template:
                names.append(template)
            elif template in dynamic:
                names += [template.format(*[value] * template.count("{}")) for value in dynamic[template]]
            else:
                unresolved.append(DynamicImport(path, line, template))
        for imported in names:
            todo += [f for f in module_files(imported, roots) if f not in seen]
        todo += [f for f in loads.get(path, ()) if f not in seen]
    return Closure(frozenset(seen), tuple(unresolved))


# Modules that load another by path, which no import statement shows (evaluate.load(<file>) runs a metric
# script), relative to the repository root: loader -> the files it loads.
LOADS: dict[str, list[str]] = {"src/clinsynth/fhir/answers.py": ["src/clinsynth/evaluation/meteor.py",
                                                                 "src/clinsynth/evaluation/rouge.py"]}
