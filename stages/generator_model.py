"""Stage generator_model: the packaged SmolLM2 GGUF (or any GGUF) -> a plain HF directory + identity.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clinsynth.generation.model_store import GeneratorModelConfig, convert_gguf, packaged_gguf
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json


def main() -> None:
    base = load_base()
    cfg = load_params("generator_model", GeneratorModelConfig)
    source = packaged_gguf() if cfg.source == "packaged" else Path(cfg.source)
    identity = convert_gguf(source, Path(cfg.out), cfg.name, cfg.dtype)
    write_json(Path(base.paths.metrics) / "generator_model.json", dataclasses.asdict(identity) | {"id": str(identity)})
    print(f"generator_model: {source.name} -> {cfg.out} ({identity})")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
