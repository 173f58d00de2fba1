"""Recipe ``rephrase``: rewrite train-split note chunks (general, medical, style templates).

Sources are chunk records ``{id, note_id, patient_id, split, start, end, text}`` from
``data/interim/chunks.jsonl``. Only the train split is prompted, so dev/test notes never reach
the generator (the downstream evaluation trains on synthetic text and tests on real held-out notes).

The parser only rejects what is not a rephrasing at all (empty replies, refusals). Length bounds,
verbatim leakage and duplicates are gated in ``postprocess@rephrase``, which reads
``data/generations/rephrase.jsonl`` together with ``data/prompts/rephrase.jsonl`` (the source text
is in each prompt's ``vars.text``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from clinsynth.generation.types import Rejection
from clinsynth.params import NonNegativeInt
from clinsynth.recipes.chunk_sampling import build_vars, read_sources, select_sources, source_ids
from clinsynth.recipes.replies import screen_reply

__all__ = ["NAME", "SampleConfig", "build_vars", "parse_completion", "read_sources", "select_sources",
           "source_ids"]
NAME = "rephrase"


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """``params.yaml: sample.rephrase``."""

    templates: list[str]  # versioned names, e.g. rephrase.general.v1
    max_chunks: NonNegativeInt  # chunks sampled (each rendered under every template); 0 = all
    split: str = "train"
    min_chars: NonNegativeInt = 200  # shorter chunks (headers, stubs) give nothing to rephrase
    max_chars: NonNegativeInt = 0  # longer chunks skipped (0: none); keeps a short rewrite budget from truncating


def parse_completion(text: str, prompt: dict[str, Any]) -> dict[str, Any] | Rejection:
    """The rephrased text, stripped; ``empty`` and ``refusal`` replies are rejected."""
    cleaned = screen_reply(text, prompt["id"])
    if isinstance(cleaned, Rejection):
        return cleaned
    return {"text": cleaned}
