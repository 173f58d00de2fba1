import dataclasses

import pytest

from clinsynth.quality.checks import (RECIPE_CHECKS, CheckOutcome, RephraseCheckConfig, check_rephrase, recipe_check,
                                      register_check)
from clinsynth.quality.inputs import Generation, Prompt, QualityInputError

SOURCE = "Fever and cough for three days, started on amoxicillin by the family doctor."  # 15 tokens


def _pair(text: str, vars_: dict) -> tuple[Prompt, Generation]:
    prompt = Prompt("p1", "rephrase", "rephrase.clinical.v1", "abc", [], vars_, ["n1:0"], 1)
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


def test_registry_lookup_and_registration():
    assert recipe_check("rephrase").config is RephraseCheckConfig
    assert recipe_check("no_such_recipe") is None

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        pass

    @register_check("unit_test_recipe", Cfg)
    def check(prompt, generation, cfg):
        return CheckOutcome({})

    try:
        assert recipe_check("unit_test_recipe").run is check
    finally:
        del RECIPE_CHECKS["unit_test_recipe"]
