"""``params.yaml: generate`` as a typed config, and the backend it names.

``backend: transformers`` (default, embedded) or ``backend: openai`` (any OpenAI-compatible
server: vLLM, TGI, llama.cpp server, a hospital gateway). The openai module is imported only
when chosen; its settings are the ``generate.openai`` mapping, checked against its ``OpenAIConfig``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

from clinsynth.generation.redact import redact_secrets
from clinsynth.generation.transformers_backend import TransformersConfig
from clinsynth.generation.types import Backend, SamplingParams
from clinsynth.params import ConfigError, from_mapping


log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """``params.yaml: generate``. ``sampling`` is keyed by recipe name.

    ``shards``/``shard_dir`` are read only by the sharded variant (``--shard I/N``, ``--merge``;
    docs/scale.md): the unsharded ``generate@R`` gives the same files whatever ``shards`` says.
    """

    sampling: dict[str, SamplingParams]
    backend: Literal["transformers", "openai"] = "transformers"
    transformers: TransformersConfig = TransformersConfig()
    openai: dict[str, Any] = dataclasses.field(default_factory=dict)
    shards: int = 1
    shard_dir: str = "data/generations/shards"

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ConfigError(f"params.yaml: generate.shards: expected an int >= 1, got {self.shards!r}")

    def sampling_for(self, recipe: str) -> SamplingParams:
        if recipe not in self.sampling:
            raise ConfigError(f"params.yaml: generate.sampling has no {recipe!r} block; "
                              f"found {sorted(self.sampling)}; add one (temperature, top_p, max_new_tokens)")
        return self.sampling[recipe]


def make_backend(config: GenerateConfig, profile: str | None = None) -> Backend:
    """Build the configured backend (loads the model or opens the client)."""
    if config.backend == "transformers":
        from clinsynth.generation.transformers_backend import TransformersBackend

        log.info("backend: transformers (%s)", config.transformers.model)
        return TransformersBackend(config.transformers)
    if config.backend == "openai":
        from clinsynth.generation.openai_backend import OpenAIBackend, OpenAIConfig

        openai_config = from_mapping(OpenAIConfig, config.openai, "params.yaml: generate.openai", profile)
        log.info("backend: openai (%s at %s)", openai_config.model, redact_secrets(", ".join(openai_config.base_urls)))
        return OpenAIBackend(openai_config)
    raise ConfigError(f"generate.backend: unknown backend {config.backend!r}; expected 'transformers' or 'openai'")
