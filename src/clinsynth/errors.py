"""Expected errors (bad input, bad params) versus bugs, and how the stages and the CLI report them.

An expected error's message is complete (``file:line``, what was found, what was expected, how to fix it), so
:func:`run_stage` prints ``<stage>: <message>`` to stderr and exits 1, without a traceback; anything else is a
bug and keeps its traceback. Either way ``dvc repro`` stops non-zero.

The project's error classes derive from :class:`InputError`. A few live in modules this one does not import
(heavy, or owned by another part); :data:`ELSEWHERE` names them and they are matched only once their module has
been imported (an exception of a class never imported cannot have been raised).

Logging is configured here, once, for both entry points (:func:`run_stage` for the stage scripts, the ``clinsynth``
CLI's top-level options): the library's loggers (``clinsynth.*``, one per module) go to stderr as
``<time> <LEVEL> <logger>: <message>`` at INFO by default; ``--verbose``/``-v`` gives DEBUG (and an expected error's
traceback), ``--quiet``/``-q`` WARNING, and :data:`LOG_ENV` (``CLINSYNTH_LOG_LEVEL=DEBUG dvc repro``) sets the level
where no flag can be passed. Other packages' loggers stay at WARNING whatever the level, so ``-v`` shows our
decisions, not every HTTP request. Stage summaries stay ``print``s: they are the stage's output.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


class InputError(ValueError):
    """Base class of the errors a user's input or params cause; the message says where, what, and how to fix it."""


class SetupError(InputError, RuntimeError):
    """Something the user installs or runs is missing or failed (a package, a dvc command); the message says which."""


log = logging.getLogger(__name__)

LOG_ENV = "CLINSYNTH_LOG_LEVEL"  # DEBUG, INFO, WARNING, ERROR (any case) or a number; flags win over it
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATEFMT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    log.debug("%s: traceback of the error below", name, exc_info=exc)  # --verbose only: for debugging
    print(f"{name}: {describe(exc)}", file=sys.stderr)
    raise SystemExit(1)


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is when a record is emitted (pytest and typer swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def choose_log_level(verbose: bool = False, quiet: bool = False, env: dict[str, str] | None = None) -> int:
    """The level of the ``clinsynth`` loggers: DEBUG with ``verbose``, WARNING with ``quiet``, else :data:`LOG_ENV`
    if set, else INFO. A value of LOG_ENV that is no level raises :class:`InputError`."""
    if verbose and quiet:
        raise InputError("--verbose and --quiet together: pass one of them")
    if verbose or quiet:
        return logging.DEBUG if verbose else logging.WARNING
    value = (os.environ if env is None else env).get(LOG_ENV, "").strip()
    if not value:
        return logging.INFO
    if value.isdigit():
        return int(value)
    if value.upper() not in LEVELS:
        raise InputError(f"{LOG_ENV}={value!r}: not a log level; expected one of {', '.join(LEVELS)} (any case) "
                         f"or a number, e.g. {LOG_ENV}=DEBUG")
    return getattr(logging, value.upper())


def configure_logging(level: int) -> None:
    """One stderr handler on the root logger (replacing one installed before); ``clinsynth.*`` at ``level``,
    everything else at WARNING (or ``level`` if higher)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATEFMT))
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("clinsynth").setLevel(level)


def add_log_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``-v/--verbose`` and ``-q/--quiet`` (read back by :func:`log_level_of`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", dest="log_verbose",
                       help=f"log DEBUG lines and an error's traceback (also: {LOG_ENV}=DEBUG)")
    group.add_argument("-q", "--quiet", action="store_true", dest="log_quiet",
                       help=f"log warnings only (also: {LOG_ENV}=WARNING)")
    return parser


def log_level_of(args: argparse.Namespace) -> int:
    """The level a namespace parsed by a parser with :func:`add_log_options` asks for (:func:`choose_log_level`)."""
    return choose_log_level(getattr(args, "log_verbose", False), getattr(args, "log_quiet", False))


def stage_parser(main: Callable[..., Any], prog: str) -> argparse.ArgumentParser:
    """The stage script's command line: its module docstring as help, one positional per required parameter of
    ``main`` (``python stages/sample.py rephrase``)."""
    doc = inspect.getdoc(sys.modules.get(main.__module__)) or ""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for param in inspect.signature(main).parameters.values():
        if param.default is inspect.Parameter.empty and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            parser.add_argument(param.name, help="see the description above (dvc.yaml passes it)")
    return add_log_options(parser)


def run_stage(main: Callable[..., Any], *args: Any, name: str | None = None,
              log_args: argparse.Namespace | None = None, **kwargs: Any) -> Any:
    """Call a stage's ``main``; an expected error prints ``<stage>: <message>`` and exits 1, a bug keeps its traceback.

    Called with ``main`` alone (no ``name``), the arguments come from the command line (:func:`stage_parser`: ``--help`` prints
    the script's docstring and runs nothing; an unexpected argument is an error, not a run). ``name`` defaults to
    the stage script's name plus its first argument (``sample@rephrase``), as dvc.yaml names it.

    Logging is configured first (:func:`configure_logging`, :func:`choose_log_level`): from ``-v``/``-q`` on the
    command line, else :data:`LOG_ENV`, else INFO. A script with its own parser adds :func:`add_log_options` to it
    and passes what it parsed as ``log_args``.
    """
    parsed = log_args if log_args is not None else argparse.Namespace()
    if not args and not kwargs and name is None:
        parsed = stage_parser(main, Path(sys.argv[0]).name).parse_args(sys.argv[1:])
        args = tuple(v for k, v in vars(parsed).items() if not k.startswith("log_"))
    if name is None:
        name = Path(sys.argv[0]).stem + (f"@{args[0]}" if args and isinstance(args[0], str) else "")
    try:
        configure_logging(log_level_of(parsed))
        return main(*args, **kwargs)
    except Exception as exc:
        if not is_expected(exc):
            raise
        report(name, exc)
