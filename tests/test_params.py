import dataclasses
from typing import Literal

import pytest

from clinsynth.params import ConfigError, from_mapping, load_params


@dataclasses.dataclass(frozen=True)
class Inner:
    k: int = 3


@dataclasses.dataclass(frozen=True)
class Section:
    size: int
    rate: float
    mode: Literal["fail", "skip"]
    names: list[str]
    inner: Inner = Inner()


VALID = {"size": 2, "rate": 1, "mode": "skip", "names": ["a"]}


def test_valid_section_converts_types():
    cfg = from_mapping(Section, VALID, "params.yaml: s")
    assert cfg == Section(size=2, rate=1.0, mode="skip", names=["a"])
    assert isinstance(cfg.rate, float)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        from_mapping(Section, {**VALID, "sise": 3}, "params.yaml: s")
    assert str(err.value) == "params.yaml: s: unknown key 'sise'; valid keys: inner, mode, names, rate, size"


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError) as err:
        from_mapping(Section, {**VALID, "size": "big"}, "params.yaml: s")
    assert str(err.value) == "params.yaml: s.size: expected int, got str 'big'"


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match=r"s.size: expected int, got bool True"):
        from_mapping(Section, {**VALID, "size": True}, "s")


def test_literal_and_list_items_checked():
    with pytest.raises(ConfigError, match=r"s.mode: expected one of \['fail', 'skip'\], got 'drop'"):
        from_mapping(Section, {**VALID, "mode": "drop"}, "s")
    with pytest.raises(ConfigError, match=r"s.names\[1\]: expected str, got int 5"):
        from_mapping(Section, {**VALID, "names": ["a", 5]}, "s")


def test_missing_key_and_nested_unknown():
    with pytest.raises(ConfigError, match=r"^s: missing key 'rate' \(float\)$"):
        from_mapping(Section, {"size": 1, "mode": "fail", "names": []}, "s")
    with pytest.raises(ConfigError, match=r"^s.inner: unknown key 'x'; valid keys: k$"):
        from_mapping(Section, {**VALID, "inner": {"x": 1}}, "s")


def test_profile_values_resolved(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "base: {seed: 1, profile: demo, paths: {}}\n"
        "s: {size: {demo: 2, full: 200}, rate: 0.5, mode: fail, names: []}\n"
    )
    assert load_params("s", Section, params).size == 2
    params.write_text(params.read_text().replace("profile: demo", "profile: full"))
    assert load_params("s", Section, params).size == 200


def test_missing_section_and_bad_profile(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("base: {seed: 1, profile: tiny, paths: {}}\n")
    with pytest.raises(ConfigError, match=r"base.profile: expected one of \['demo', 'full', 'ci'\], got 'tiny'"):
        load_params("s", Section, params)
    params.write_text("base: {seed: 1, profile: demo, paths: {}}\n")
    with pytest.raises(ConfigError, match=r"missing section 's'"):
        load_params("s", Section, params)


def test_repository_params_file_loads_every_stage_config():
    """The committed params.yaml must load into every config a stage script loads (no drift between the two):
    each ``load_params(SECTION, Config)`` call in stages/*.py, the config defined in the stage or (as it should
    be) imported from the library."""
    import ast
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    loaded = []
    for stage_file in sorted((root / "stages").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"stage_{stage_file.stem}", stage_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        for node in ast.walk(ast.parse(stage_file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "load_params" and len(node.args) >= 2:
                section = ast.literal_eval(node.args[0]) if isinstance(node.args[0], ast.Constant) \
                    else getattr(module, ast.unparse(node.args[0]))
                try:
                    config = eval(ast.unparse(node.args[1]), vars(module))  # a name or module.attribute
                except NameError:  # imported inside main(): import it as main() would
                    continue
                load_params(section, config, root / "params.yaml")
                loaded.append(section)
    assert {"train_icd", "pretrain", "evaluate_kg_notes", "generate"} <= set(loaded)
