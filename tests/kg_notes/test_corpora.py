import pytest

from clinsynth.recipes import kg_notes as kn
from clinsynth.records import DroppedRecord, SyntheticRecord
from clinsynth.training import generator_lora as kc
from clinsynth.training import icd_corpora as icd

FEVER = {"id": "HP:1", "text": "Fever", "variants": ["Fever", "Pyrexia"]}
COUGH = {"id": "HP:2", "text": "Cough", "variants": ["Cough"]}


def record(rid, template, draw_set="all", usage=None, example_span=None, code="A01"):
    checks = {} if usage is None else {"symptom_usage": usage}
    return SyntheticRecord(id=rid, recipe="kg_notes", prompt_id=f"{template}:{rid}", template=template, template_sha="t",
                           model="m", source_ids=[], text=f"note {rid}", parsed={},
                           vars={"code": code, "symptoms": [FEVER] if usage is not None else [], "draw_set": draw_set,
                                 "symptom_source": "kg", "example": "ex" if example_span is not None else None},
                           contract=None, leakage={"train_longest_span": 3, "source_longest_span": example_span},
                           checks=checks)


def dropped(rid, template, stage, reason, draw_set="all"):
    return DroppedRecord(rid, "kg_notes", f"{template}:{rid}", "", reason, "", None, None, None, {}, {},
                         template=template, stage=stage,
                         vars={"code": "B01", "symptoms": [], "draw_set": draw_set, "symptom_source": "kg", "example": None})


def test_a_variant_is_a_filter_of_the_gated_corpus_on_template_and_draw_set():
    full, base = "kg_notes.full.v1", "kg_notes.baseline.v1"
    gated = {"kg_notes": ([record("g2", full, usage=0.5, example_span=7), record("g1", full, usage=1.0, example_span=2),
                           record("g3", base), record("g4", full, draw_set="upsample", usage=0.0, example_span=1)],
                          [dropped("g5", full, "postprocess", "leakage_span"), dropped("p6", full, "generate", "refusal"),
                           dropped("g7", full, "postprocess", "near_duplicate", draw_set="upsample")])}
    cfg = icd.KgNotesCorporaConfig("data/synthetic", "out", {
        "full": icd.Variant("kg_notes", full), "base": icd.Variant("kg_notes", base),
        "rare": icd.Variant("kg_notes", full, ["all", "upsample"])}, [0.0, 0.5, 1.0])
    result = icd.variant_corpora(gated, cfg)
    assert [r["id"] for r in result.corpora["full"]] == ["g1", "g2"]  # sorted by id; nothing gated a second time
    assert result.corpora["full"][0] == {"id": "g1", "prompt_id": f"{full}:g1", "template": full, "model": "m",
                                         "code": "A01", "text": "note g1", "symptom_usage": 1.0,
                                         "train_longest_span": 3, "example_longest_span": 2}
    assert [r["id"] for r in result.corpora["rare"]] == ["g1", "g2", "g4"]
    assert result.corpora["base"][0]["example_longest_span"] is None  # no example in the prompt
    m = result.metrics["variants"]["full"]
    assert (m["answers"], m["kept"]) == (4, 2)
    assert m["dropped_at_postprocess"] == {"leakage_span": 1} and m["rejected_at_generation"] == {"refusal": 1}
    assert result.metrics["variants"]["rare"]["dropped_at_postprocess"] == {"leakage_span": 1, "near_duplicate": 1}
    assert m["symptom_usage"]["mean"] == 0.75
    assert result.metrics["prompts"][full]["prompts"] == 6 and result.metrics["prompts"][base]["prompts"] == 1


def test_an_unknown_draw_set_is_a_config_error():
    cfg = icd.KgNotesCorporaConfig("d", "o", {"x": icd.Variant("kg_notes", "kg_notes.full.v1", ["everything"])}, [0, 1])
    with pytest.raises(kn.SamplingError, match=r"kg_notes_corpora.variants.x.draw_sets: \['everything'\]"):
        icd.variant_corpora({"kg_notes": ([], [])}, cfg)


def test_distribution_rounded_with_histogram():
    out = icd.distribution([0.0, 0.5, 1.0, 1.0], [0.0, 0.5, 1.0])
    assert out["n"] == 4 and out["mean"] == 0.625 and out["histogram"] == {"0-0.5": 1, "0.5-1": 3}
    assert icd.distribution([], [0, 1])["mean"] is None


def test_finetune_vars_find_the_symptoms_a_note_mentions(notes, tiny_kg):
    v = kc.finetune_vars(notes[0], tiny_kg, notes, kc.ResolveConfig())
    assert v["disease"] == "Alpha disease" and [s["id"] for s in v["symptoms"]] == ["HP:1", "HP:2"]
    assert v["example"] is None
    both = kc.finetune_vars(notes[2], tiny_kg, notes, kc.ResolveConfig())
    assert both["disease"] == "Alpha disease and Beta disease" and both["code"] == "A01, B01"
    assert [n["id"] for n in kc.select_finetune_notes(notes, 0, "train", 1)] == ["n1", "n2", "n3", "n5"]
    assert len(kc.select_finetune_notes(notes, 2, "train", 1)) == 2
