"""Bad params (issue 17, part A): ranges checked at load, YAML errors that name params.yaml, duplicate keys."""

import dataclasses
from pathlib import Path
from typing import Annotated

import pytest

from clinsynth.params import (ConfigError, Fraction, NonNegativeInt, PositiveFloat, PositiveInt, Range, SumsTo,
                              from_mapping, load_params, read_params)

ROOT = Path(__file__).parents[1]


@dataclasses.dataclass(frozen=True)
class Sizes:
    size: PositiveInt = 1
    limit: NonNegativeInt = 0
    rate: PositiveFloat = 0.1
    share: Fraction = 0.5
    maybe: Fraction | None = None
    ks: list[PositiveInt] = dataclasses.field(default_factory=list)
    dropout: Annotated[float, Range(0, 1, max_open=True)] = 0.0
    weights: Annotated[dict[str, float], SumsTo(1.0)] = dataclasses.field(default_factory=lambda: {"a": 1.0})


@pytest.mark.parametrize("key, value, message", [
    ("size", 0, "s.size: expected int >= 1, got 0"),
    ("size", -3, "s.size: expected int >= 1, got -3"),
    ("limit", -1, "s.limit: expected int >= 0, got -1"),
    ("rate", 0, "s.rate: expected float > 0, got 0.0"),
    ("share", 1.5, "s.share: expected float >= 0 and <= 1, got 1.5"),
    ("maybe", -0.1, "s.maybe: expected float >= 0 and <= 1, got -0.1"),
    ("ks", [5, 0], "s.ks[1]: expected int >= 1, got 0"),
    ("dropout", 1, "s.dropout: expected float >= 0 and < 1, got 1.0"),
    ("weights", {"a": 0.5, "b": 0.6}, "s.weights: values must sum to 1.0, got 1.1 ({'a': 0.5, 'b': 0.6})"),
    ("size", {"demo": 0, "full": 4}, "s.size.demo: expected int >= 1, got 0"),
])
def test_out_of_range_values_fail_at_load(key, value, message):
    with pytest.raises(ConfigError) as err:
        from_mapping(Sizes, {key: value}, "s", "demo")
    assert str(err.value) == message


def test_in_range_values_and_none_pass():
    cfg = from_mapping(Sizes, {"size": 3, "limit": 0, "rate": 1, "share": 1, "maybe": None, "ks": [1, 5],
                               "dropout": 0.99, "weights": {"a": 0.25, "b": 0.75}}, "s")
    assert cfg.size == 3 and cfg.rate == 1.0 and cfg.maybe is None and cfg.ks == [1, 5]


def write_ingest_params(tmp_path: Path, **ingest) -> Path:
    values = {"inputs": "[]", "on_bad_row": "fail", "split_fractions": "{train: 0.8, dev: 0.1, test: 0.1}",
              "chunk_chars": "800", "min_note_chars": "20", **ingest}
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: 1\n  profile: demo\n  paths: {}\ningest:\n"
                    + "".join(f"  {k}: {v}\n" for k, v in values.items()))
    return path


@pytest.mark.parametrize("key, value, message", [
    ("chunk_chars", "0", "ingest.chunk_chars: expected int >= 1, got 0"),  # chunk_note used to loop forever
    ("chunk_chars", "-5", "ingest.chunk_chars: expected int >= 1, got -5"),
    ("min_note_chars", "-1", "ingest.min_note_chars: expected int >= 0, got -1"),
    ("split_fractions", "{train: 0.8, dev: 0.1, test: 0.2}",
     "ingest.split_fractions: values must sum to 1.0, got 1.1 ({'train': 0.8, 'dev': 0.1, 'test': 0.2})"),
    ("split_fractions", "{train: 1.2, dev: -0.1, test: -0.1}",
     "ingest.split_fractions.train: expected float >= 0 and <= 1, got 1.2"),
    ("split_fractions", "{train: 0.8, dev: 0.1, tset: 0.1}",
     "ingest.split_fractions: expected keys ['train', 'dev', 'test'], got ['train', 'dev', 'tset']"),
])
def test_ingest_params_ranges(tmp_path, key, value, message):
    from clinsynth.corpus import IngestConfig
    path = write_ingest_params(tmp_path, **{key: value})
    with pytest.raises(ConfigError) as err:
        load_params("ingest", IngestConfig, path)
    assert str(err.value) == "params.yaml: " + message


def test_stage_configs_carry_ranges():
    from clinsynth.training.ner import NerConfig

    with pytest.raises(ConfigError, match=r"^t.learning_rate: expected float > 0, got 0.0$"):
        from_mapping(NerConfig, {"learning_rate": 0}, "t")
    with pytest.raises(ConfigError, match=r"^t.batch_size: expected int >= 1, got 0$"):
        from_mapping(NerConfig, {"batch_size": 0}, "t")
    with pytest.raises(ConfigError, match=r"^t.warmup_ratio: expected float >= 0 and <= 1, got 2.0$"):
        from_mapping(NerConfig, {"warmup_ratio": 2.0}, "t")


def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: [1, 2\n  profile: demo\n")
    with pytest.raises(ConfigError) as err:
        read_params(path)
    assert str(err.value) == (f"{path}:3:10: invalid YAML: while parsing a flow sequence; "
                              "expected ',' or ']', but got ':'")
    assert "<unicode string>" not in str(err.value)


def test_yaml_tab_error_says_it_is_a_tab(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: 1\n\tprofile: demo\n")
    with pytest.raises(ConfigError) as err:
        read_params(path)
    assert str(err.value) == (f"{path}:3:1: invalid YAML: while scanning for the next token; found character '\\t' "
                              "that cannot start any token (a tab: YAML indents with spaces only)")


def test_duplicate_keys_are_rejected_with_both_lines(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: 1\ningest:\n  chunk_chars: 800\n  min_note_chars: 20\n  chunk_chars: 0\n")
    with pytest.raises(ConfigError) as err:
        read_params(path)
    assert str(err.value) == f"{path}:6:3: invalid YAML: duplicate key 'chunk_chars' (first at line 4); keep one of them"


def test_merge_keys_may_repeat_keys(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 3\n")
    assert read_params(path) == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}}


def test_params_not_utf8(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"base:\n  seed: 1 # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"params.yaml:2: byte 21 is not UTF-8 \(invalid continuation byte\); save it as UTF-8$"):
        read_params(path)


def test_the_repository_params_load_with_every_range():
    data = read_params(ROOT / "params.yaml")
    from clinsynth.corpus import IngestConfig
    cfg = load_params("ingest", IngestConfig, ROOT / "params.yaml")
    assert cfg.chunk_chars >= 1 and abs(sum(cfg.split_fractions.values()) - 1) < 1e-6 and "base" in data


def test_optional_values_keep_the_none_in_a_type_error_and_the_range_in_a_range_error():
    with pytest.raises(ConfigError, match=r"^s.maybe: expected float >= 0 and <= 1 \| None, got str 'x'$"):
        from_mapping(Sizes, {"maybe": "x"}, "s")
    with pytest.raises(ConfigError, match=r"^s.maybe: expected float >= 0 and <= 1, got 2.0$"):
        from_mapping(Sizes, {"maybe": 2}, "s")
