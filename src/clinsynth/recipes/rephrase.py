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

from clinsynth.params import NonNegativeFloat, NonNegativeInt, PositiveFloat
from clinsynth.quality.checks import CheckOutcome, RecipeCheck, prompt_source_text
from clinsynth.quality.leakage import tokenize
from clinsynth.records import Generation, Prompt, Rejection
from clinsynth.recipes.chunk_sampling import build_vars, read_sources, select_sources, source_ids
from clinsynth.recipes.replies import screen_reply

__all__ = ["CHECK", "NAME", "SampleConfig", "build_vars", "parse_completion", "read_sources", "select_sources",
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


@dataclasses.dataclass(frozen=True)
class RephraseCheckConfig:
    source_var: str = "text"  # prompt.vars key holding the source chunk (the rephrase sampler's `text`): a string or a Chunk record
    min_length_ratio: NonNegativeFloat = 0.5  # tokens out / tokens of the source chunk
    max_length_ratio: PositiveFloat = 2.0


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


CHECK = RecipeCheck(RephraseCheckConfig, check_rephrase)
