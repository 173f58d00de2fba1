"""The kg_notes prompts answered by the generator with its fine-tuned LoRA adapter (stage kg_notes_generate_lora).

The engine's ``generate@kg_notes`` uses ``generate.transformers`` (the base model); :func:`with_adapter` gives
the same engine settings (cache, backend, sampling) with ``adapter`` set, so the kg_notes and kg_notes_lora
corpora differ only by the adapter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from clinsynth.generation.factory import GenerateConfig


@dataclasses.dataclass(frozen=True)
class KgNotesGenerateLoraConfig:
    adapter: str  # the finetune_generator output
    templates: list[str]  # which kg_notes prompt sets to regenerate with the adapter
    draw_sets: list[str] = dataclasses.field(default_factory=lambda: ["all"])  # all | upsample (sample.kg_notes)
    out: str = "kg_notes_lora"  # data/generations/<out>.jsonl


def with_adapter(gen: GenerateConfig, adapter: str) -> GenerateConfig:
    """``gen`` on the transformers backend with LoRA ``adapter``."""
    return dataclasses.replace(gen, backend="transformers",
                               transformers=dataclasses.replace(gen.transformers, adapter=adapter))


def adapter_prompts(prompts: Iterable[Mapping[str, Any]], cfg: KgNotesGenerateLoraConfig) -> list[Mapping[str, Any]]:
    """The kg_notes prompts of ``cfg.templates`` and ``cfg.draw_sets``, in their input order."""
    return [p for p in prompts if p["template"] in cfg.templates and p["vars"]["draw_set"] in cfg.draw_sets]
