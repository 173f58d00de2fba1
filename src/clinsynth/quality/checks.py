"""The shape of a recipe's record check, which postprocess runs beside the shared gates.

A check sees one prompt and its generation and returns a :class:`CheckOutcome`: per-record figures
(kept on the record and summarised in the metrics) and, when the record must go, a drop reason from the
check's own enumeration. Its settings are a frozen dataclass read from ``postprocess.recipes.<C>.check``
in params.yaml (unknown keys fail). A recipe module exposes its check as ``CHECK = RecipeCheck(Config, fn)``
and the postprocess stage passes it in: nothing here knows a recipe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from clinsynth.quality.inputs import QualityInputError
from clinsynth.records import Generation, Prompt


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    figures: dict[str, float]
    reason: str | None = None  # None: the record passes
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class RecipeCheck:
    config: type  # frozen dataclass of the check's settings
    run: Callable[[Prompt, Generation, Any], CheckOutcome]


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
