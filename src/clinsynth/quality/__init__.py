"""Quality and privacy gates for synthetic corpora (leakage, duplicates, diversity, membership audit, data card).

Recipes register their own record checks in :data:`RECIPE_CHECKS` with :func:`register_check`;
the postprocess stage runs them with the shared gates (:func:`clinsynth.quality.postprocess.postprocess`).
"""

from clinsynth.quality.card import DataCard, build_card, write_card
from clinsynth.quality.checks import RECIPE_CHECKS, CheckOutcome, register_check
from clinsynth.quality.gates import QualityGateError

__all__ = ["RECIPE_CHECKS", "CheckOutcome", "DataCard", "QualityGateError", "build_card", "register_check", "write_card"]
