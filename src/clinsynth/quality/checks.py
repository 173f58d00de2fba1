"""Recipe-specific record checks: a small registry that recipes fill.

A check sees one prompt and its generation and returns a :class:`CheckOutcome`: per-record figures
(kept on the record and summarised in the metrics) and, when the record must go, a drop reason from the
check's own enumeration. Its settings are a frozen dataclass read from ``postprocess.recipes.<R>.check``
in params.yaml (unknown keys fail).

A recipe registers its check in its own module::

    @register_check("kg_notes", KgNotesCheckConfig)
    def check_kg_notes(prompt, generation, cfg) -> CheckOutcome: ...

:func:`recipe_check` imports ``clinsynth.recipes.<R>`` (when it exists) before looking the recipe up, so
the stage finds checks registered there. The rephrase check lives here.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from clinsynth.params import NonNegativeFloat, PositiveFloat
from clinsynth.quality.inputs import Generation, Prompt, QualityInputError
from clinsynth.quality.leakage import tokenize


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    figures: dict[str, float]
    reason: str | None = None  # None: the record passes
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class RecipeCheck:
    config: type  # frozen dataclass of the check's settings
    run: Callable[[Prompt, Generation, Any], CheckOutcome]


RECIPE_CHECKS: dict[str, RecipeCheck] = {}


def register_check(recipe: str, config: type) -> Callable:
    def decorator(fn: Callable[[Prompt, Generation, Any], CheckOutcome]) -> Callable:
        RECIPE_CHECKS[recipe] = RecipeCheck(config, fn)
        return fn
    return decorator


def recipe_check(recipe: str) -> RecipeCheck | None:
    """The check registered for ``recipe`` (importing ``clinsynth.recipes.<recipe>`` first), or None."""
    if recipe not in RECIPE_CHECKS and importlib.util.find_spec("clinsynth.recipes") is not None:
        if importlib.util.find_spec(f"clinsynth.recipes.{recipe}") is not None:
            importlib.import_module(f"clinsynth.recipes.{recipe}")
    return RECIPE_CHECKS.get(recipe)


@dataclasses.dataclass(frozen=True)
class RephraseCheckConfig:
    source_var: str = "text"  # prompt.vars key holding the source chunk (the rephrase sampler's `text`): a string or a Chunk record
    min_length_ratio: NonNegativeFloat = 0.5  # tokens out / tokens of the source chunk
    max_length_ratio: PositiveFloat = 2.0


def prompt_source_text(prompt: Prompt, var: str) -> str:
    """The text in ``prompt.vars[var]`` (a string, or a record with a ``text`` field)."""
    value = prompt.vars.get(var)
    if isinstance(value, dict):
        value = value.get("text")
    if not isinstance(value, str):
        raise QualityInputError(
            f"prompt {prompt.id!r}: vars[{var!r}] is {type(value).__name__}, expected the source text (a string "
            f"or a record with 'text'); vars has {sorted(prompt.vars)}; set postprocess.recipes.{prompt.recipe}"
            f".check.source_var")
    return value


@register_check("rephrase", RephraseCheckConfig)
def check_rephrase(prompt: Prompt, generation: Generation, cfg: RephraseCheckConfig) -> CheckOutcome:
    """Length ratio bounds against the source chunk (empty replies and refusals are rejected at parse time)."""
    n_source = len(tokenize(prompt_source_text(prompt, cfg.source_var)))
    n_out = len(tokenize(generation.text))
    ratio = n_out / max(1, n_source)
    figures = {"length_ratio": ratio}
    if ratio < cfg.min_length_ratio:
        return CheckOutcome(figures, "length_ratio_low", f"{n_out} tokens for a {n_source}-token source: ratio "
                                                         f"{ratio:.2f} < min {cfg.min_length_ratio}")
    if ratio > cfg.max_length_ratio:
        return CheckOutcome(figures, "length_ratio_high", f"{n_out} tokens for a {n_source}-token source: ratio "
                                                          f"{ratio:.2f} > max {cfg.max_length_ratio}")
    return CheckOutcome(figures)
