"""Expected errors (bad input, bad params) versus bugs, and how the stages and the CLI report them.

An expected error's message is complete (``file:line``, what was found, what was expected, how to fix it), so
:func:`run_stage` prints ``<stage>: <message>`` to stderr and exits 1, without a traceback; anything else is a
bug and keeps its traceback. Either way ``dvc repro`` stops non-zero.

The project's error classes derive from :class:`InputError`. A few live in modules this one does not import
(heavy, or owned by another part); :data:`ELSEWHERE` names them and they are matched only once their module has
been imported (an exception of a class never imported cannot have been raised).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


class InputError(ValueError):
    """Base class of the errors a user's input or params cause; the message says where, what, and how to fix it."""


class SetupError(InputError, RuntimeError):
    """Something the user installs or runs is missing or failed (a package, a dvc command); the message says which."""


# "module:Class" of expected errors that do not (yet) derive from InputError.
ELSEWHERE = (
    "clinsynth.generation.cache:CacheError",
    "clinsynth.generation.model_store:ModelStoreError",
    "clinsynth.generation.openai_backend:OpenAIBackendError",
    "clinsynth.generation.sampling:DecodeError",
    "clinsynth.generation.shards:ShardError",
    "clinsynth.kg.parse:KGFormatError",
    "clinsynth.brat.inline:MarkupError",
    "clinsynth.prompting:TemplateError",
)


def expected_errors() -> tuple[type[BaseException], ...]:
    """InputError, FileNotFoundError (a missing input), and every ELSEWHERE class already imported."""
    found: list[type[BaseException]] = [InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError]
    for name in ELSEWHERE:
        module, cls = name.split(":")
        if module in sys.modules and isinstance(getattr(sys.modules[module], cls, None), type):
            found.append(getattr(sys.modules[module], cls))
    return tuple(found)


def is_expected(exc: BaseException) -> bool:
    return isinstance(exc, expected_errors())


def describe(exc: BaseException) -> str:
    """The one-line (or few-line) message shown for an expected error."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    return str(exc) or type(exc).__name__


def report(name: str, exc: BaseException) -> NoReturn:
    print(f"{name}: {describe(exc)}", file=sys.stderr)
    raise SystemExit(1)


def stage_parser(main: Callable[..., Any], prog: str) -> argparse.ArgumentParser:
    """The stage script's command line: its module docstring as help, one positional per required parameter of
    ``main`` (``python stages/sample.py rephrase``)."""
    doc = inspect.getdoc(sys.modules.get(main.__module__)) or ""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for param in inspect.signature(main).parameters.values():
        if param.default is inspect.Parameter.empty and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            parser.add_argument(param.name, help="see the description above (dvc.yaml passes it)")
    return parser


def run_stage(main: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call a stage's ``main``; an expected error prints ``<stage>: <message>`` and exits 1, a bug keeps its traceback.

    Called with ``main`` alone (no ``name``), the arguments come from the command line (:func:`stage_parser`: ``--help`` prints
    the script's docstring and runs nothing; an unexpected argument is an error, not a run). ``name`` defaults to
    the stage script's name plus its first argument (``sample@rephrase``), as dvc.yaml names it.
    """
    if not args and not kwargs and name is None:
        args = tuple(vars(stage_parser(main, Path(sys.argv[0]).name).parse_args(sys.argv[1:])).values())
    if name is None:
        name = Path(sys.argv[0]).stem + (f"@{args[0]}" if args and isinstance(args[0], str) else "")
    try:
        return main(*args, **kwargs)
    except Exception as exc:
        if not is_expected(exc):
            raise
        report(name, exc)
