"""Recipes: what to ask the generator, and how to read its replies.

A recipe is a module ``clinsynth.recipes.<name>`` with (see :class:`Recipe`):

* ``SampleConfig``: frozen dataclass, its ``params.yaml`` section ``sample.<name>``
  (``templates`` lists the versioned template names to render);
* ``read_sources(paths)``: the stage's I/O, returns the records prompts are built from;
* ``select_sources(records, cfg, seed)``: pure, deterministic choice of the records to prompt;
* ``build_vars(record)``: the template variables for one record (the recipe's ``build_messages``;
  the messages themselves come from its templates, see :mod:`clinsynth.prompting`);
* ``source_ids(record)``: the ids a prompt cites (part of the prompt id);
* ``parse_completion(text, prompt)``: a reply -> dict of parsed fields, or a ``Rejection``
  (a counted reason, never an exception);
* ``CHECK``: the recipe's record check (:class:`clinsynth.quality.checks.RecipeCheck`) or None, which the
  ``postprocess@<corpus>`` stage passes to the shared gates (leakage, degeneracy, duplicates, fidelity).

Stages look a recipe up by name in :mod:`clinsynth.recipes.registry`. A recipe is only this engine plug-in; what a task does with the gated corpus lives on the task side
(``brat``, ``retrieval``, ``fhir``, ``training``, ``pretraining``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from clinsynth.quality.checks import RecipeCheck
from clinsynth.records import Rejection
from clinsynth.params import DEFAULT_PARAMS_FILE, ConfigError, Paths, from_mapping, load_base, read_params

T = TypeVar("T")


class Recipe(Protocol):
    NAME: str
    SampleConfig: type

    def read_sources(self, paths: Paths) -> list[Any]: ...

    def select_sources(self, records: Sequence[Any], cfg: Any, seed: int) -> list[Any]: ...

    def build_vars(self, record: Any) -> dict[str, Any]: ...

    def source_ids(self, record: Any) -> Sequence[str]: ...

    def parse_completion(self, text: str, prompt: dict[str, Any]) -> dict[str, Any] | Rejection: ...

    CHECK: RecipeCheck | None

    # optional: ``templates_for(record, cfg) -> template names | None`` renders a record under only those
    # templates (kg_notes' upsample draws); without it every record is rendered under every template


def load_recipe_params(section: str, recipe: str, cls: type[T], path: Path | str = DEFAULT_PARAMS_FILE) -> T:
    """``params.yaml[section][recipe]`` as ``cls`` (per-profile values resolved)."""
    data = read_params(path)
    base = load_base(path)
    where = f"{Path(path).name}: {section}.{recipe}"
    block = (data.get(section) or {}).get(recipe)
    if block is None:
        found = sorted((data.get(section) or {}))
        raise ConfigError(f"{where}: missing; add a '{recipe}:' block under '{section}:' (found {found})")
    return from_mapping(cls, block, where, base.profile)
