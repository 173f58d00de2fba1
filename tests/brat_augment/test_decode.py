"""Decode of hand-written replies (tests/fixtures/brat_augment/generations.jsonl), one per outcome."""

import dataclasses
import json

import pytest

from clinsynth.brat import read_corpus, validate_document
from clinsynth.brat.augment import DecodeConfig, decode_records
from clinsynth.params import Paths
from clinsynth.prompting import build_prompts, load_template
from clinsynth.recipes import brat_augment as recipe
from clinsynth.records import DroppedRecord, Rejection, SyntheticRecord, dumps, read_jsonl

LABELS = ["Condition", "Medication", "Procedure"]
EXPECTED = {  # generation id -> (where it ends, reason)
    "gen-01": ("kept", None), "gen-02": ("dropped", "unchanged"), "gen-03": ("dropped", "duplicate"),
    "gen-04": ("generation", "empty_reply"), "gen-05": ("generation", "broken_markup"),
    "gen-06": ("generation", "unknown_label"), "gen-07": ("generation", "label_changed"),
    "gen-08": ("generation", "entity_count_changed"), "gen-09": ("rejected", "entity_missing"),
    "gen-10": ("kept", None), "gen-11": ("kept", None),
    "gen-12": ("kept", None),  # "Rewrite:" echo and single-bracket mark: tolerated
}


@pytest.fixture(scope="module")
def prompts(corpus_dir):
    records = recipe.read_sources(Paths(brat=str(corpus_dir)))
    cfg = recipe.SampleConfig(templates=["brat_augment.rewrite.v1"], max_segments=0, labels=LABELS)
    chosen = recipe.select_sources(records, cfg, 13)
    built = build_prompts("brat_augment", [load_template("prompts", "brat_augment.rewrite.v1")], chosen,
                          recipe.build_vars, recipe.source_ids, 13)
    return [json.loads(dumps(p)) for p in built]  # as read from data/prompts/brat_augment.jsonl


@pytest.fixture(scope="module")
def engine_output(prompts, fixtures_dir):
    """What generate@brat_augment writes: parsed generations and parser rejections."""
    by_id = {p["id"]: p for p in prompts}
    generations, rejections = [], []
    for g in read_jsonl(fixtures_dir / "generations.jsonl"):
        parsed = recipe.parse_completion(g["text"], by_id[g["prompt_id"]])
        if isinstance(parsed, Rejection):
            rejections.append({"prompt_id": parsed.prompt_id, "reason": parsed.reason, "detail": parsed.detail,
                               "generation_id": g["id"]})
        else:
            generations.append({**g, "parsed": parsed})
    return generations, rejections


def gated(prompts, generations, rejections=(), gate_drops=()):
    """The corpus postprocess@brat_augment would write: records for ``generations``, dropped records for the
    parser's ``rejections`` (stage generate) and for ``gate_drops`` (generation, reason) pairs."""
    by_id = {p["id"]: p for p in prompts}
    records = [SyntheticRecord(id=g["id"], recipe="brat_augment", prompt_id=g["prompt_id"],
                               template=by_id[g["prompt_id"]]["template"], template_sha="t", model="m",
                               source_ids=by_id[g["prompt_id"]]["source_ids"], text=g["parsed"]["text"],
                               parsed=g["parsed"], vars=by_id[g["prompt_id"]]["vars"], contract=None, leakage={},
                               checks={}) for g in generations]
    dropped = [DroppedRecord(r["generation_id"], "brat_augment", r["prompt_id"], "", r["reason"], r["detail"], None,
                             None, None, {}, {}, vars=by_id[r["prompt_id"]]["vars"], stage="generate")
               for r in rejections]
    dropped += [DroppedRecord(g["id"], "brat_augment", g["prompt_id"], g["text"], reason, "", None, None, None, {},
                              {}, vars=by_id[g["prompt_id"]]["vars"]) for g, reason in gate_drops]
    return records, dropped


@pytest.fixture(scope="module")
def decoded(corpus_dir, prompts, engine_output):
    train = read_corpus(corpus_dir / "train").documents
    cfg = DecodeConfig(out_dir="unused", records="unused", labels=LABELS)
    return decode_records(train, *gated(prompts, *engine_output), cfg, [d.text for d in train]), train


def test_segments_and_prompt_ids_are_the_fixtures(prompts):
    assert [p["source_ids"] for p in prompts] == [["note_a:1"], ["note_a:0"], ["note_a:2"]]
    assert prompts[2]["vars"]["segment"] == "- [[Medication: hydrochlorothiazide 25 mg oral tablet]]"
    assert prompts[2]["id"] == "brat_augment.rewrite.v1:b820ebe4a0bacd44"


def test_parser_rejects_each_broken_reply_with_its_reason(engine_output):
    _, rejections = engine_output
    got = {r["generation_id"]: r["reason"] for r in rejections}
    assert got == {g: reason for g, (where, reason) in EXPECTED.items() if where == "generation"}


def test_parser_keeps_a_reply_that_lost_marks_for_the_decode_policy(prompts, engine_output):
    generations, _ = engine_output
    lost = next(g for g in generations if g["id"] == "gen-09")
    assert lost["parsed"] == {"text": "Prescribed a water pill.", "encoded": "Prescribed a water pill.", "entities_kept": 0}


def test_each_generation_ends_where_expected(decoded):
    result, _ = decoded
    got = {r["id"]: (r["status"], r["reason"]) for r in result.records}
    assert got == {g: v for g, v in EXPECTED.items() if v[0] != "generation"}


def test_kept_documents_are_valid_rewrites_with_entities_and_relations(decoded):
    result, train = decoded
    (source,) = train
    assert [d.id for d in result.documents] == ["note_a.s1.g0", "note_a.s2.g0", "note_a.s2.g1", "note_a.s2.g2"]
    for document in result.documents:
        assert validate_document(document) == []
        assert len(document.entities) == len(source.entities) and len(document.relations) == len(source.relations)
    fenced = result.documents[2]
    assert fenced.text.endswith("medications:\nGiven HCTZ 25 mg tablet today.\n")  # code fence stripped
    assert fenced.entity("T9").text == "HCTZ 25 mg tablet"
    rewritten = result.documents[0]
    plan = rewritten.text.index("The patient presents with essential hypertension")
    assert rewritten.entity("T7").start == plan + len("The patient presents with ")
    assert rewritten.text[rewritten.entity("T1").start:rewritten.entity("T1").end] == "essential hypertension"
    assert result.documents[3].entity("T9").text == "hydrochlorothiazide 25 mg tablets"
    assert result.documents[3].text.endswith("medications:\nPrescribed hydrochlorothiazide 25 mg tablets at discharge.\n")


def test_metrics_count_every_outcome_and_preservation(decoded):
    metrics = decoded[0].metrics
    assert metrics["counts"] == {
        "prompts_answered": 2, "answers": 12, "generations": 7,  # the third prompt has no reply in the fixture
        "rejected_at_generation": {"broken_markup": 1, "empty_reply": 1, "entity_count_changed": 1,
                                   "label_changed": 1, "unknown_label": 1},
        "dropped_at_postprocess": {},
        "rejected_at_decode": {"entity_missing": 1}, "dropped": {"duplicate": 1, "unchanged": 1},
        "kept": 4, "kept_fraction": 0.3333, "wrapping_stripped": {}}
    assert metrics["rejections"]["total"] == 8
    # marks: 11 answers x 1 (segment note_a:2) + 4 (note_a:1); kept: 1 + 1 + 1 + 4
    assert metrics["entities"] == {"marked": 15, "preserved": 7, "preservation_rate": 0.4667}
    # relations touching the segments: 11 x 1 (R3) + 3 (R1, R2, R3); kept: 1 + 1 + 1 + 3
    assert metrics["relations"] == {"touching_segments": 14, "survived": 6, "survival_rate": 0.4286}
    assert metrics["leakage"]["train_longest_span"]["n"] == 4


def test_lenient_recall_keeps_a_rewrite_without_its_entity_and_drops_its_relation(corpus_dir, prompts, engine_output):
    train = read_corpus(corpus_dir / "train").documents
    cfg = DecodeConfig(out_dir="unused", records="unused", labels=LABELS, min_entity_recall=0.0)
    generations = [g for g in engine_output[0] if g["id"] == "gen-09"]
    result = decode_records(train, *gated(prompts, generations), cfg, [d.text for d in train])
    (document,) = result.documents
    assert "T9" not in {e.id for e in document.entities} and len(document.relations) == 2
    assert result.metrics["relations"] == {"touching_segments": 1, "survived": 0, "survival_rate": 0.0}


def test_leakage_limit_drops_a_verbatim_rewrite(corpus_dir, prompts, engine_output):
    train = read_corpus(corpus_dir / "train").documents
    cfg = DecodeConfig(out_dir="unused", records="unused", labels=LABELS, leakage_ngram=3, max_leak_span=3)
    generations = [g for g in engine_output[0] if g["id"] == "gen-11"]
    result = decode_records(train, *gated(prompts, generations), cfg, [d.text for d in train])
    assert result.metrics["counts"]["dropped"] == {"leakage_span": 1}


def test_a_record_without_its_marked_rewrite_is_a_clear_error(corpus_dir, prompts, engine_output):
    train = read_corpus(corpus_dir / "train").documents
    cfg = DecodeConfig(out_dir="unused", records="unused", labels=LABELS)
    records, _ = gated(prompts, engine_output[0][:1])
    broken = [dataclasses.replace(records[0], parsed={"text": "x"})]
    with pytest.raises(ValueError, match=r"record gen-01: parsed has \['text'\], no 'encoded'"):
        decode_records(train, broken, [], cfg, [])


def test_replies_the_quality_gates_dropped_count_as_answers_that_preserved_nothing(corpus_dir, prompts, engine_output):
    train = read_corpus(corpus_dir / "train").documents
    cfg = DecodeConfig(out_dir="unused", records="unused", labels=LABELS)
    generations = [g for g in engine_output[0] if g["id"] != "gen-10"]
    gate_drops = [(g, "length_ratio_high") for g in engine_output[0] if g["id"] == "gen-10"]
    result = decode_records(train, *gated(prompts, generations, engine_output[1], gate_drops), cfg,
                            [d.text for d in train])
    counts = result.metrics["counts"]
    assert counts["dropped_at_postprocess"] == {"length_ratio_high": 1}
    assert (counts["answers"], counts["generations"], counts["kept"]) == (12, 6, 3)
    assert result.metrics["rejections"]["by_reason"]["length_ratio_high"] == 1
    assert result.metrics["entities"]["marked"] == 15 and result.metrics["entities"]["preserved"] < 7


def test_quality_check_measures_the_rewrite_against_its_segment_with_marks_decoded(prompts):
    from clinsynth.records import Generation, Prompt, record_from_row

    check = recipe.CHECK
    prompt = record_from_row(Prompt, prompts[2], "prompts:3")  # "- [[Medication: hydrochlorothiazide 25 mg oral tablet]]"
    cfg = recipe.BratAugmentCheckConfig()

    def run(text):
        g = Generation("g", prompt.id, "m@s", "p", text, "stop", 1, 1)
        return check.run(prompt, g, cfg)

    same = run("- hydrochlorothiazide 25 mg oral tablet")  # 6 tokens, as the segment once its mark is decoded
    assert same.figures == {"length_ratio": 1.0} and same.reason is None
    runaway = run("Take hydrochlorothiazide 25 mg oral tablet daily. " * 3)
    assert runaway.reason == "length_ratio_high" and "24 tokens for a 6-token segment: ratio 4.00 > max 2.0" in runaway.detail
    assert run("hydrochlorothiazide").reason == "length_ratio_low"
