"""The five recipes by name, for the stages that take one as an argument (sample@R, generate@R, postprocess@C).

Imported, not looked up by name: every stage that takes a recipe argument depends on all five modules
(dvc.yaml lists them), which costs a cache-hit rerun of the other recipes' sample/generate stages after a
recipe's code changes, but keeps every dependency list a static import closure. Kept out of
``clinsynth/recipes/__init__.py`` so that importing one recipe does not import the other four.
"""

from __future__ import annotations

from types import ModuleType

from clinsynth.params import ConfigError
from clinsynth.recipes import brat_augment, fhir_qa, kg_notes, rephrase, retrieval_queries

RECIPE_MODULES: dict[str, ModuleType] = {m.NAME: m for m in (rephrase, kg_notes, brat_augment, retrieval_queries,
                                                              fhir_qa)}
RECIPES = tuple(RECIPE_MODULES)


def load_recipe(name: str) -> ModuleType:
    """The recipe module ``clinsynth.recipes.<name>``; an unknown name lists the known ones."""
    if name not in RECIPE_MODULES:
        raise ConfigError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPE_MODULES[name]
