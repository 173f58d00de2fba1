"""Reply contracts: the cache key (unchanged without one), the prompt record, and decoding under a contract
with a tiny random Llama on SmolLM2's real tokenizer (49k vocabulary): only valid replies, batch invariance."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from clinsynth.generation.cache import cache_key
from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig
from clinsynth.generation.types import Completion, Contract, ContractError, Failure, Message, Request, SamplingParams
from clinsynth.records import Prompt
from clinsynth.generation.engine import to_request
from clinsynth.recipes import brat_augment, fhir_qa, retrieval_queries

IDENTITY = "smollm2-135m-instruct@0123456789abcdef;float16;decode-v1"
REQUEST = Request("p1", (Message("system", "You are a clinical writer."),
                         Message("user", "Rewrite: [[Drug: aspirin]] daily.")), 1234567,
                  SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=128, repetition_penalty=1.1))
# cache_key(IDENTITY, REQUEST) computed with the code of 53b5527, before contracts existed
KEY_BEFORE_CONTRACTS = "d7b4243fe8a3cc4e946d98b9dca77fe9682023779acf4f1b1371b917904b29eb"
SEGMENTS = [  # (encoded segment, entity ids)
    ("Started [[Drug: metformin]] for [[Disease_disorder: type 2 diabetes]].", ("T1", "T2")),
    ("No [[Sign_symptom: chest pain]] today.", ("T3",)),
    ("[[Sign_symptom: Fever]] and [[Sign_symptom: cough]] since Monday; given [[Drug: paracetamol]] 1 g.",
     ("T4", "T5", "T6")),
]


def test_a_request_without_contract_keeps_its_key() -> None:
    assert cache_key(IDENTITY, REQUEST) == KEY_BEFORE_CONTRACTS


def test_the_contract_joins_the_key() -> None:
    regex = dataclasses.replace(REQUEST, contract=Contract("regex", "[a-z]+"))
    other = dataclasses.replace(REQUEST, contract=Contract("regex", "[a-z]*"))
    lark = dataclasses.replace(REQUEST, contract=Contract("lark", "[a-z]+"))
    keys = {cache_key(IDENTITY, r) for r in (REQUEST, regex, other, lark)}
    assert len(keys) == 4
    assert cache_key(IDENTITY, regex) == cache_key(IDENTITY, dataclasses.replace(regex))


def test_a_prompt_record_carries_its_contract_only_when_set() -> None:
    prompt = Prompt("p1", "unit", "unit.x.v1", "sha", (Message("user", "hi"),), {}, ("s1",), 7)
    record = prompt.to_dict()
    assert "contract" not in record and record == {k: v for k, v in dataclasses.asdict(prompt).items() if k != "contract"}
    assert to_request(record, SamplingParams()).contract is None
    constrained = dataclasses.replace(prompt, contract=Contract("json_schema", '{"type":"string"}'))
    back = to_request(json.loads(json.dumps(constrained.to_dict())), SamplingParams())
    assert back.contract == constrained.contract


@pytest.mark.parametrize(("kind", "source", "match"), [
    ("gbnf", "x", "expected one of regex | lark | json_schema"),
    ("regex", "", "non-empty string"),
])
def test_a_malformed_contract_is_refused(kind: str, source: str, match: str) -> None:
    with pytest.raises(ContractError, match=match):
        Contract(kind, source)
    with pytest.raises(ContractError, match="expected"):
        Contract.from_dict({"kind": "regex"})


def brat_record(encoded: str, ids: tuple[str, ...]) -> dict:
    from clinsynth.brat import parse_marks

    _, marks = parse_marks(encoded)
    segment = {"doc_id": "d", "segment_id": f"d:{ids[0]}", "start": 0, "end": len(encoded), "encoded": encoded,
               "entity_ids": list(ids)}
    labels = sorted({m.label for m in marks})
    return {"segment": segment, "labels": labels, "allowed_labels": labels}


def test_brat_contract_matches_a_rewrite_and_refuses_a_changed_one() -> None:
    regex = re.compile(brat_augment.build_contract(brat_record(*SEGMENTS[0])).source)
    assert regex.fullmatch("Patient began [[Drug: metformin 500 mg]] for [[Disease_disorder: T2DM]].")
    for wrong in ("Began [[Drug: metformin]].",  # a mark lost
                  "Began [[Disease_disorder: DM]] and [[Drug: metformin]].",  # order / labels changed
                  "Began [[Drug: metformin]] for [[Disease_disorder: DM]] [[Drug: x]].",  # a mark added
                  "Began [[Drug: ]] for [[Disease_disorder: DM]].",  # empty entity text
                  "Began [x] [[Drug: metformin]] for [[Disease_disorder: DM]]."):  # a bracket of its own
        assert not regex.fullmatch(wrong), wrong


def test_brat_contract_bounds_each_gap_and_mark_by_its_source() -> None:
    cfg = brat_augment.SampleConfig(["t"], 1, ["Drug"], contract="ordered", contract_min_ratio=0.6,
                                    contract_max_ratio=1.5)
    regex = re.compile(brat_augment.build_contract(brat_record(*SEGMENTS[0]), cfg).source)
    rest = "[[Drug: metformin 500 mg]] for [[Disease_disorder: T2DM]]."
    # "Started " (8 characters, 7 stripped) may shrink to int(0.6 * 7) = 4 and grow to int(1.5 * 8) + 16 = 28,
    # and ends in whitespace as it does
    assert regex.fullmatch("Patient began " + rest) and regex.fullmatch("Took " + rest)
    assert regex.fullmatch("x" * 27 + " " + rest) and regex.fullmatch("Took\n" + rest)
    for wrong in ("Go " + rest, "x" * 28 + " " + rest, "Patient began" + rest):  # too short, too long, no space
        assert not regex.fullmatch(wrong), wrong
    # a mark's text in place of "type 2 diabetes" (15): at most int(1.5 * 15) + 16 = 38 characters
    began = "Patient began [[Drug: metformin 500 mg]] for [[Disease_disorder: "
    assert regex.fullmatch(began + "d" * 38 + "]].")
    assert not regex.fullmatch(began + "d" * 39 + "]].")


def test_build_prompts_attaches_the_recipes_contract_to_each_prompt() -> None:
    from clinsynth.prompting import Template, build_prompts

    template = Template("brat_augment.unit.v1", "unit.j2", "sha", "{% block user %}Rewrite: {{ segment }}{% endblock %}")
    records = [brat_record(*segment) for segment in SEGMENTS]
    plain = build_prompts("brat_augment", [template], records, brat_augment.build_vars, brat_augment.source_ids, 13)
    built = build_prompts("brat_augment", [template], records, brat_augment.build_vars, brat_augment.source_ids, 13,
                          build_contract=brat_augment.build_contract)
    assert [p.contract for p in plain] == [None] * 3 and all("contract" not in p.to_dict() for p in plain)
    by_segment = {p.vars["segment"]: p.contract for p in built}
    assert by_segment == {r["segment"]["encoded"]: brat_augment.build_contract(r) for r in records}
    assert [dataclasses.replace(p, contract=None) for p in built] == plain  # ids, seeds, messages unchanged


def test_the_property_tests_use_the_brat_bounds_params_yaml_sets() -> None:
    import yaml

    sample = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["sample"]["brat_augment"]
    assert (sample["contract_min_ratio"], sample["contract_max_ratio"]) == (BRAT_CFG.contract_min_ratio,
                                                                            BRAT_CFG.contract_max_ratio)


def test_sample_configs_take_contract_none_by_default() -> None:
    assert brat_augment.SampleConfig(["t"], 1, ["Drug"]).contract == "none"
    assert retrieval_queries.SampleConfig(["t"], 1).contract == "none"
    assert fhir_qa.SampleConfig(["t"], 1, 1).contract == "none"


# ---- decoding under a contract: a tiny random Llama on SmolLM2's real tokenizer ---------------------------
@pytest.fixture(scope="module")
def smol_vocab_backend(tmp_path_factory: pytest.TempPathFactory) -> TransformersBackend:
    """2 layers, hidden 64, SmolLM2's tokenizer and chat template (from the packaged GGUF): logits over 49,152 ids."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tests.generation.openai_servers import smollm2_gguf

    gguf = smollm2_gguf()
    out = tmp_path_factory.mktemp("smol_vocab") / "tiny-smol"
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    eos = tokenizer.eos_token_id
    # head_dim 32: no layer narrower than 64 outputs (tests/conftest.py build_tiny_model says why)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=2048,
                         tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                         pad_token_id=eos, initializer_range=0.2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # float16, as params.yaml generates: bfloat16 (and float32) were not batch-invariant on an AMD EPYC (Zen 4,
    # AVX512-BF16 without AVX512-FP16) in 2026-12: one of these 16 replies differed alone vs batched.
    return TransformersBackend(TransformersConfig(model=str(out), dtype="float16", batch_size=16, threads=1))


# top_p 1: a random model's near-flat distribution makes the nucleus search sort all 49k logits (~25 ms a row)
SAMPLING = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=256)


# brat_augment's contract with the gap bounds params.yaml sets (sample.brat_augment.contract_min/max_ratio)
BRAT_CFG = brat_augment.SampleConfig(["t"], 1, ["Drug"], contract="ordered", contract_min_ratio=0.4,
                                     contract_max_ratio=1.4)


def contract_requests(seeds: range, sampling: SamplingParams = SAMPLING) -> list[tuple[Request, dict]]:
    """(request, prompt record) for every segment and seed under brat_augment's contract, retrieval's, fhir_qa's."""
    out = []
    for seed in seeds:
        for i, (encoded, ids) in enumerate(SEGMENTS):
            record = brat_record(encoded, ids)
            contract = brat_augment.build_contract(record, BRAT_CFG)
            prompt = {"id": f"b{i}s{seed}", "vars": {"record": record}, "contract": contract.to_dict()}
            out.append((Request(prompt["id"], (Message("user", f"Rewrite: {encoded}"),), seed, sampling, contract),
                        prompt))
        contract = retrieval_queries.build_contract({})
        prompt = {"id": f"rs{seed}", "contract": contract.to_dict()}
        out.append((Request(prompt["id"], (Message("user", "List the diseases: cough, fever."),), seed, sampling,
                            contract), prompt))
        contract = fhir_qa.build_contract(FHIR_RECORD)
        prompt = {"id": f"fs{seed}", "contract": contract.to_dict(), "vars": FHIR_RECORD}
        out.append((Request(prompt["id"], (Message("user", "Ask about R2 and answer."),), seed, sampling,
                            contract), prompt))
    return out


FHIR_RECORD = {"patient_id": "p1", "target": "R2", "resources": [
    {"ref": "R1", "id": "c1", "text": "Condition | Acute bronchitis | onset 2019-02-01"},
    {"ref": "R2", "id": "o1", "text": "Observation | Body Weight | 2021-06-10 | 78 kg"},
    {"ref": "R3", "id": "m1", "text": "MedicationRequest | amoxicillin 500 mg | 2019-02-01"}]}


def check_retrieval_reply(text: str) -> None:
    reply = json.loads(text)
    assert sorted(reply) == sorted(retrieval_queries.CATEGORIES)
    assert 1 <= len(reply["diseases"])
    for name in retrieval_queries.CATEGORIES:
        assert len(reply[name]) <= retrieval_queries.MAX_PER_CATEGORY
        for term in reply[name]:
            assert 2 <= len(term) <= retrieval_queries.TERM_CHARS and re.fullmatch(retrieval_queries.TERM_PATTERN, term), term


def test_every_reply_under_a_contract_is_valid(smol_vocab_backend: TransformersBackend) -> None:
    """Property: over many seeds, a random model's replies all parse, with every BRAT mark preserved."""
    pairs = contract_requests(range(24))  # 120 requests
    results = {r.request_id: r for r in smol_vocab_backend.generate([req for req, _ in pairs])}
    for request, prompt in pairs:
        result = results[request.id]
        assert isinstance(result, Completion) and result.finish_reason == "stop", (request.id, result)
        if request.id.startswith("b"):  # the whole reply within the contract's gap and mark bounds, every mark kept
            assert re.fullmatch(request.contract.source, result.text), result.text
            parsed = brat_augment.parse_completion(result.text, prompt)
            assert isinstance(parsed, dict), (result.text, parsed)
            assert parsed["entities_kept"] == len(prompt["vars"]["record"]["segment"]["entity_ids"])
        elif request.id.startswith("r"):
            check_retrieval_reply(result.text)
            parsed = retrieval_queries.parse_completion(result.text, prompt)
            assert isinstance(parsed, dict) and parsed["entities"], (result.text, parsed)
        else:  # fhir_qa: well-formed, cites only shown entries; grounding stays the parser's (random text isn't)
            reply = json.loads(result.text)
            assert reply["question"].endswith("?") and reply["answer"] and "\n" not in reply["answer"]
            assert set(reply["resource_ids"]) <= {"R1", "R2", "R3"} and reply["resource_ids"]
            parsed = fhir_qa.parse_completion(result.text, prompt)
            assert isinstance(parsed, dict) or parsed.reason == "answer_not_grounded", parsed


def test_contracts_keep_batch_invariance(smol_vocab_backend: TransformersBackend) -> None:
    """16 requests, some constrained and some not: alone vs in one batch of 16, byte-identical."""
    sampling = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=64)  # one group: one batch of 16
    constrained = [req for req, _ in contract_requests(range(2), sampling)]  # 10 (5 per seed)
    constrained += [req for req, _ in contract_requests(range(9, 10), sampling)][:2]
    free = [Request(f"f{i}", (Message("user", "Write a note about " + "fever " * i),), 100 + i, sampling)
            for i in range(4)]
    requests = constrained + free
    assert len(requests) == 16
    batched = {c.request_id: (c.text, c.finish_reason) for c in smol_vocab_backend.generate(requests)}
    alone = {r.id: (c.text, c.finish_reason) for r in requests for c in smol_vocab_backend.generate([r])}
    assert batched == alone


def test_a_contract_that_does_not_compile_fails_its_request_only(smol_vocab_backend: TransformersBackend) -> None:
    sampling = dataclasses.replace(SAMPLING, max_new_tokens=8)
    hi = (Message("user", "hi"),)
    requests = [Request("bad", hi, 1, sampling, Contract("regex", "(unclosed")),
                Request("bad_json", hi, 1, sampling, Contract("json_schema", "{not json")),
                Request("bad_lark", hi, 1, sampling, Contract("lark", "start: undefined_rule")),
                Request("ok", hi, 1, sampling, Contract("regex", "(yes|no)")),
                Request("ok_lark", hi, 2, sampling, Contract("lark", 'start: "yes" | "no"')),
                Request("ok_json", hi, 3, sampling, Contract("json_schema", '{"enum": ["yes", "no"]}'))]
    results = {r.request_id: r for r in smol_vocab_backend.generate(requests)}
    for bad in ("bad", "bad_json", "bad_lark"):
        assert isinstance(results[bad], Failure) and results[bad].reason == "contract_invalid", results[bad]
    for ok, allowed in (("ok", ("yes", "no")), ("ok_lark", ("yes", "no")), ("ok_json", ('"yes"', '"no"'))):
        assert isinstance(results[ok], Completion) and results[ok].text in allowed, results[ok]
        assert results[ok].finish_reason == "stop"
