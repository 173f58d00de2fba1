import re

import pytest

from clinsynth.quality.inputs import QualityInputError
from clinsynth.recipes.rephrase import CHECK, RephraseCheckConfig, check_rephrase
from clinsynth.records import Generation, Prompt

SOURCE = "Fever and cough for three days, started on amoxicillin by the family doctor."  # 15 tokens


def _pair(text: str, vars_: dict) -> tuple[Prompt, Generation]:
    prompt = Prompt("p1", "rephrase", "rephrase.clinical.v1", "abc", (), vars_, ("n1:0",), 1)
    return prompt, Generation("g1", "p1", "m@sha", "ps", text, "stop", 10, 10)


@pytest.mark.parametrize("text, reason", [
    ("Three days of fever and cough; the GP started amoxicillin.", None),
    ("Fever.", "length_ratio_low"),
    (" ".join([SOURCE] * 3), "length_ratio_high"),
])
def test_rephrase_length_ratio_bounds(text, reason):
    outcome = check_rephrase(*_pair(text, {"text": {"id": "n1:0", "text": SOURCE}}), RephraseCheckConfig())
    assert outcome.reason == reason and "length_ratio" in outcome.figures


def test_rephrase_low_ratio_detail_names_the_figures():
    outcome = check_rephrase(*_pair("Fever.", {"text": SOURCE}), RephraseCheckConfig())
    assert outcome.detail == "2 tokens for a 15-token source: ratio 0.13 < min 0.5"


def test_missing_source_var_says_what_the_prompt_has_and_how_to_fix():
    with pytest.raises(QualityInputError, match=r"prompt 'p1': vars\['text'\] is NoneType, expected the source text "
                                                r".*vars has \['chunk'\]; set postprocess.recipes.rephrase.check.source_var"):
        check_rephrase(*_pair("x", {"chunk": SOURCE}), RephraseCheckConfig())


def test_each_recipe_exposes_its_check_and_nothing_in_quality_names_one():
    """The recipe hands its check to postprocess; the quality, records, prompting and generation modules
    never import a recipe or name one (issue 19: no registry, no import by name)."""
    import ast
    from pathlib import Path

    from clinsynth.recipes.registry import RECIPE_MODULES

    assert CHECK.config is RephraseCheckConfig and CHECK.run is check_rephrase
    assert {name for name, m in RECIPE_MODULES.items() if m.CHECK is not None} == {"rephrase", "kg_notes", "brat_augment"}
    src = Path(__file__).resolve().parents[2] / "src" / "clinsynth"
    engine_side = [*sorted((src / "quality").glob("*.py")), *sorted((src / "generation").glob("*.py")),
                   src / "records.py", src / "prompting.py"]
    for path in engine_side:
        tree = ast.parse(path.read_text())
        imports = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
                  [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imports if m.startswith("clinsynth.recipes")], path
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        named = [s for s in strings if re.search(rf"\b({'|'.join(RECIPE_MODULES)})\b", s)]  # docstrings too
        assert not named, f"{path} names a recipe: {named[:3]}"
