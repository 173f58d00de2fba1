"""What a reply contract does to a recipe's parse outcomes: the same prompts with and without it. Asserts nothing.

    .venv/bin/python bench/contract_replies.py brat_augment --n 16
    .venv/bin/python bench/contract_replies.py retrieval_queries --prompts data/prompts/retrieval_queries.jsonl

Reads the first ``--n`` prompt records of ``data/prompts/<recipe>.jsonl`` (written without contracts), decodes
them with the transformers backend under ``generate.sampling.<recipe>`` as the demo profile resolves it, once
as they are and once with the recipe's ``build_contract`` (built from the prompt's vars), and prints the
recipe parser's outcomes for each: parsed replies and rejections by reason. No cache is read or written.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", choices=["brat_augment", "retrieval_queries", "fhir_qa"])
    parser.add_argument("--prompts", default=None)
    parser.add_argument("--model", default=str(REPO / "models/generator/smollm2-135m-instruct"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the demo profile's")
    parser.add_argument("--show", nargs="*", default=[], help="print the reply and detail of these rejection reasons")
    args = parser.parse_args()

    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig, prefer_sleeping_threads

    prefer_sleeping_threads()
    from clinsynth.generation.types import Completion, SamplingParams
    from clinsynth.params import read_params
    from clinsynth.prompting import to_request
    from clinsynth.recipes import load_recipe

    recipe = load_recipe(args.recipe)
    settings = read_params(REPO / "params.yaml")["generate"]["sampling"][args.recipe]
    settings = {k: (v["demo"] if isinstance(v, dict) else v) for k, v in settings.items()}
    if args.max_new_tokens:
        settings["max_new_tokens"] = args.max_new_tokens
    sampling = SamplingParams(**settings)
    path = Path(args.prompts or REPO / f"data/prompts/{args.recipe}.jsonl")
    prompts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:args.n]]
    backend = TransformersBackend(TransformersConfig(model=args.model, dtype="float16", batch_size=len(prompts),
                                                     threads=args.threads))
    record_of = (lambda p: p["vars"]["record"]) if args.recipe == "brat_augment" else (lambda p: p["vars"])
    print(f"{args.recipe}: {len(prompts)} prompts from {path}, {sampling}")
    for arm in ("none", "contract"):
        arm_prompts = [p | {"contract": recipe.build_contract(record_of(p)).to_dict()} if arm == "contract" else p
                       for p in prompts]
        by_id = {p["id"]: p for p in arm_prompts}
        start = time.perf_counter()
        results = list(backend.generate([to_request(p, sampling) for p in arm_prompts]))
        wall = time.perf_counter() - start
        outcomes, finish, tokens = Counter(), Counter(), 0
        for result in results:
            if not isinstance(result, Completion):
                outcomes[f"failure:{result.reason}"] += 1
                continue
            finish[result.finish_reason] += 1
            tokens += result.n_completion_tokens
            parsed = recipe.parse_completion(result.text, by_id[result.request_id])
            outcomes["parsed" if isinstance(parsed, dict) else parsed.reason] += 1
            if not isinstance(parsed, dict) and parsed.reason in args.show:
                print(f"  {arm} {parsed.reason}: {parsed.detail}\n    reply: {result.text[:300]!r}")
        print(json.dumps({"arm": arm, "outcomes": dict(sorted(outcomes.items())), "finish_reason": dict(finish),
                          "completion_tokens": tokens, "wall_s": round(wall, 1)}), flush=True)


if __name__ == "__main__":
    main()
