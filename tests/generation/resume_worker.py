"""Subprocess body for the resume test: generate N requests on the tiny model into a cache.

Usage: python resume_worker.py MODEL_DIR CACHE_PATH N  (prints the number generated this run)
"""

from __future__ import annotations

import sys

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import run_requests
from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig
from clinsynth.generation.types import Message, Request, SamplingParams

SAMPLING = SamplingParams(temperature=0.9, top_p=0.95, max_new_tokens=40)


def requests(n: int) -> list[Request]:
    return [Request(f"r{i:03d}", (Message("user", "findings: " * (1 + i % 9) + str(i)),), 7 * i, SAMPLING)
            for i in range(n)]


def main(model_dir: str, cache_path: str, n: int) -> None:
    backend = TransformersBackend(TransformersConfig(model=model_dir, dtype="float16", batch_size=4, threads=1))
    with GenerationCache(cache_path) as cache:
        fresh = sum(not o.cached for o in run_requests(requests(n), backend, cache))
    print(fresh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
