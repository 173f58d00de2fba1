"""What a reply contract does to a recipe's parse outcomes: the same prompts with and without it. Asserts nothing.

    .venv/bin/python bench/contract_replies.py brat_augment --n 16
    .venv/bin/python bench/contract_replies.py retrieval_queries --prompts data/prompts/retrieval_queries.jsonl

Reads the first ``--n`` prompt records of ``data/prompts/<recipe>.jsonl`` (any contract they carry dropped), decodes
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
    parser.add_argument("--repetition-penalty", type=float, default=None, help="default: the demo profile's")
    parser.add_argument("--show", nargs="*", default=[], help="print the reply and detail of these rejection reasons")
    parser.add_argument("--arms", nargs="+", choices=["none", "contract"], default=["none", "contract"])
    parser.add_argument("--contract-ratio", nargs=2, type=float, metavar=("MIN", "MAX"), default=None,
                        help="brat_augment: the contract's gap bounds (default: params.yaml sample.brat_augment)")
    args = parser.parse_args()

    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig, prefer_sleeping_threads

    prefer_sleeping_threads()
    from clinsynth.generation.types import Completion, SamplingParams
    from clinsynth.params import read_params
    from clinsynth.generation.engine import to_request
    from clinsynth.recipes.registry import load_recipe

    recipe = load_recipe(args.recipe)
    settings = read_params(REPO / "params.yaml")["generate"]["sampling"][args.recipe]
    settings = {k: (v["demo"] if isinstance(v, dict) else v) for k, v in settings.items()}
    if args.max_new_tokens:
        settings["max_new_tokens"] = args.max_new_tokens
    if args.repetition_penalty:
        settings["repetition_penalty"] = args.repetition_penalty
    sampling = SamplingParams(**settings)
    path = Path(args.prompts or REPO / f"data/prompts/{args.recipe}.jsonl")
    prompts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:args.n]]
    backend = TransformersBackend(TransformersConfig(model=args.model, dtype="float16", batch_size=len(prompts),
                                                     threads=args.threads))
    record_of = (lambda p: p["vars"]["record"]) if args.recipe == "brat_augment" else (lambda p: p["vars"])
    sample_cfg = sample_config(recipe, args)
    gate = gate_of(args.recipe)
    bounds = (getattr(sample_cfg, "contract_min_ratio", None), getattr(sample_cfg, "contract_max_ratio", None))
    print(f"{args.recipe}: {len(prompts)} prompts from {path}, {sampling}, contract gap bounds {bounds}")
    for arm in args.arms:
        free = [{k: v for k, v in p.items() if k != "contract"} for p in prompts]
        arm_prompts = [p | {"contract": recipe.build_contract(record_of(p), sample_cfg).to_dict()} if arm == "contract" else p
                       for p in free]
        by_id = {p["id"]: p for p in arm_prompts}
        start = time.perf_counter()
        results = list(backend.generate([to_request(p, sampling) for p in arm_prompts]))
        wall = time.perf_counter() - start
        outcomes, finish, tokens = Counter(), Counter(), 0
        same_text = Counter()  # brat_augment: marks whose entity text is the source's (case-insensitive), of all
        for result in results:
            if not isinstance(result, Completion):
                outcomes[f"failure:{result.reason}"] += 1
                continue
            finish[result.finish_reason] += 1
            tokens += result.n_completion_tokens
            parsed = recipe.parse_completion(result.text, by_id[result.request_id])
            outcomes["parsed" if isinstance(parsed, dict) else parsed.reason] += 1
            if isinstance(parsed, dict) and args.recipe == "brat_augment":
                same_text.update(same_entity_texts(by_id[result.request_id], parsed))
            if isinstance(parsed, dict) and gate is not None:
                dropped = gate(by_id[result.request_id], parsed)
                outcomes[f"gated:{dropped}" if dropped else "passed_gates"] += 1
                if dropped in args.show:
                    print(f"  {arm} {dropped}: {parsed['text'][:300]!r}")
            if not isinstance(parsed, dict) and parsed.reason in args.show:
                print(f"  {arm} {parsed.reason}: {parsed.detail}\n    reply: {result.text[:300]!r}")
        extra = {"entity_text_same": f"{same_text['same']}/{same_text['marks']}"} if same_text else {}
        print(json.dumps({"arm": arm, **extra, "outcomes": dict(sorted(outcomes.items())), "finish_reason": dict(finish),
                          "completion_tokens": tokens, "wall_s": round(wall, 1)}), flush=True)


def same_entity_texts(prompt, parsed) -> Counter:
    """brat_augment: how many of the rewrite's marks keep their source entity's text (case-insensitive)."""
    from clinsynth.brat import parse_marks

    _, source = parse_marks(prompt["vars"]["record"]["segment"]["encoded"])
    _, marks = parse_marks(parsed["encoded"])
    same = sum(a.text.casefold() == b.text.casefold() for a, b in zip(source, marks))
    return Counter(same=same, marks=len(source))


def sample_config(recipe, args):
    """``sample.<recipe>`` as the demo profile resolves it (the contract's own settings), with --contract-ratio."""
    import dataclasses

    cfg = demo_section(recipe.SampleConfig, "sample", args.recipe)
    if args.contract_ratio:
        cfg = dataclasses.replace(cfg, contract_min_ratio=args.contract_ratio[0], contract_max_ratio=args.contract_ratio[1])
    return cfg


def gate_of(name):
    """brat_augment: the per-record gates postprocess applies before decode (degeneracy, then the recipe's
    length-ratio check) as a function (prompt, parsed) -> the drop reason or None; leakage is not measured here."""
    if name != "brat_augment":
        return None
    from types import SimpleNamespace

    from clinsynth.quality.degeneracy import DegeneracyConfig, screen_degenerate
    from clinsynth.recipes.brat_augment import BratAugmentCheckConfig, check_brat_augment, parse_marks

    degeneracy = demo_section(DegeneracyConfig, "postprocess", "degeneracy")
    check = demo_section(BratAugmentCheckConfig, "postprocess", "recipes", "brat_augment", "check")

    def gate(prompt, parsed):
        source, _ = parse_marks(prompt["vars"]["record"]["segment"]["encoded"])
        screened = screen_degenerate(parsed["text"], source, degeneracy)
        if screened.reason:
            return screened.reason
        as_prompt = SimpleNamespace(id=prompt["id"], recipe=name, vars=prompt["vars"])
        return check_brat_augment(as_prompt, SimpleNamespace(text=screened.text), check).reason
    return gate


def demo_section(cls, *keys):
    """``params.yaml[keys[0]][keys[1]]...`` as ``cls``, per-profile values resolved for the demo profile."""
    from clinsynth.params import from_mapping, read_params

    data = read_params(REPO / "params.yaml")
    for key in keys:
        data = data[key]
    return from_mapping(cls, data or {}, "params.yaml: " + ".".join(keys), "demo")


if __name__ == "__main__":
    main()
