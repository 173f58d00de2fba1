"""Typed loading of params.yaml into frozen dataclasses.

Every stage reads its settings through :func:`load_params`, so an unknown key,
a missing key or a wrong type fails before any work starts, with a message that
names the key and lists what was expected.

Profiles: any scalar field may be written as ``{demo: X, full: Y}``; the value
for ``base.profile`` is taken. This keeps the demo small without a second file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

PROFILES = ("demo", "full")
DEFAULT_PARAMS_FILE = Path("params.yaml")

T = TypeVar("T")


class ConfigError(ValueError):
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
    metrics: str = "metrics"


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    seed: int
    profile: Literal["demo", "full"]
    paths: Paths


def _type_name(tp: Any) -> str:
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
        if profile not in value:
            raise ConfigError(f"{where}: no value for profile {profile!r}; found keys {sorted(value)}")
        return _convert(value[profile], tp, f"{where}.{profile}", profile)
    if tp is Any:
        return value
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
                errors.append(str(exc))
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
        _, val_tp = get_args(tp) or (Any, Any)
        return {k: _convert(v, val_tp, f"{where}.{k}", profile) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {tp.__name__}, got bool {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


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
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if no_default:
                raise ConfigError(f"{where}: missing key {name!r} ({_type_name(hints[name])})")
            continue
        values[name] = _convert(data[name], hints[name], f"{where}.{name}", profile)
    return cls(**values)


def read_params(path: Path | str = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the repository root or pass the params file")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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
