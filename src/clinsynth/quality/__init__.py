"""Quality and privacy gates for synthetic corpora (leakage, duplicates, diversity, membership audit, data card).

A recipe's own record check (:class:`RecipeCheck`) is passed to
:func:`clinsynth.quality.postprocess.postprocess`, which runs it with the shared gates.
"""

from clinsynth.quality.card import DataCard, build_card, write_card
from clinsynth.quality.checks import CheckOutcome, RecipeCheck
from clinsynth.quality.gates import QualityGateError

__all__ = ["CheckOutcome", "DataCard", "QualityGateError", "RecipeCheck", "build_card", "write_card"]
