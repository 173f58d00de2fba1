"""Fidelity figures with a hand-built KG: retained and invented concepts, changed values, the gates."""

import pytest

from clinsynth.kg import KnowledgeGraph
from clinsynth.kg.graph import build_multidigraph
from clinsynth.quality.explain import explain_dropped
from clinsynth.quality.fidelity import ConceptLinker, FidelityConfig, fidelity_reason, measure_fidelity
from clinsynth.quality.postprocess import postprocess
from clinsynth.recipes import rephrase
from clinsynth.records import Generation, Prompt, to_jsonable
from tests.quality.conftest import make_config

NODES = [("SNOMED:302870006", {"label": "Hypertriglyceridemia (disorder)", "type": "Disease",
                               "synonyms": ["hypertriglyceridemia"]}),
         ("SNOMED:66383009", {"label": "Gingivitis (disorder)", "type": "Disease", "synonyms": ["gingivitis"]}),
         ("SNOMED:ejac", {"label": "Ejaculation (disorder)", "type": "Disease"}),
         ("SNOMED:gyn", {"label": "Gynecology (disorder)", "type": "Disease"}),
         ("HP:0012378", {"label": "Fatigue", "type": "Symptom", "synonyms": ["tiredness"]}),
         ("RXNORM:metformin", {"label": "Metformin", "type": "Drug"}),
         ("ICD10CM:E11", {"label": "Type 2 diabetes mellitus", "type": "Disease"})]
KG = KnowledgeGraph(build_multidigraph(NODES, []))
CFG = FidelityConfig(source_vars={"rephrase": ["text"], "kg_notes": ["disease", "symptoms", "drugs"]})  # as params.yaml
SOURCE = ("Patient has hypertriglyceridemia and gingivitis. Takes metformin 500 mg twice daily since "
          "2019-03-04. Weight 82 kg.")


def _figures(text, vars_, recipe="rephrase", cfg=CFG):
    return measure_fidelity(text, vars_, recipe, ConceptLinker(KG, cfg), cfg)


def test_a_faithful_rewrite_keeps_every_concept_and_value():
    f = _figures("Known Hypertriglyceridemia (disorder), gingivitis; metformin 500 mg twice a day since "
                 "2019-03-04; weighs 82 kg.", {"text": SOURCE})
    assert f == {"changed_values": [], "retained": 1.0, "invented": [], "invented_terms": [],
                 "source_concepts": ["RXNORM:metformin", "SNOMED:302870006", "SNOMED:66383009"],
                 "retained_concepts": ["RXNORM:metformin", "SNOMED:302870006", "SNOMED:66383009"]}


def test_an_invented_diagnosis_is_named_and_lost_ones_lower_retention():
    f = _figures("Patient has Ejaculation (disorder) and Gynecology (disorder). Takes metformin 500 mg.",
                 {"text": SOURCE})
    assert f["invented"] == ["SNOMED:ejac", "SNOMED:gyn"]
    assert f["invented_terms"] == ["Ejaculation (disorder)", "Gynecology (disorder)"]
    assert f["retained"] == pytest.approx(0.3333) and f["retained_concepts"] == ["RXNORM:metformin"]


def test_a_changed_dose_and_date_are_changed_values():
    f = _figures("Patient has hypertriglyceridemia and gingivitis. Takes metformin 850 mg twice daily since "
                 "2019-04-03. Weight 82 kg.", {"text": SOURCE})
    assert f["changed_values"] == ["850", "2019-04-03"] and f["retained"] == 1.0


def test_kg_notes_counts_concepts_beyond_the_prompt_facts_and_example():
    vars_ = {"disease": "Type 2 diabetes mellitus", "drugs": ["Metformin"],
             "symptoms": [{"text": "tiredness", "variants": ["Fatigue", "tiredness"]}],
             "example": "Old note: gingivitis treated."}
    f = _figures("Type 2 diabetes mellitus with fatigue, gingivitis and hypertriglyceridemia.", vars_, "kg_notes")
    assert f["retained"] == pytest.approx(0.6667)  # metformin not used
    assert f["invented"] == ["SNOMED:302870006"]  # gingivitis is in the example the prompt showed


def test_gates_are_off_by_default_and_name_what_they_found():
    f = _figures("Ejaculation (disorder); metformin 850 mg.", {"text": SOURCE})
    assert fidelity_reason(f, CFG) is None
    assert fidelity_reason(f, FidelityConfig(min_retained=0.5)) == (
        "retention_low", "keeps 1 of 3 source concepts (0.333) < min_retained 0.5")
    assert fidelity_reason(f, FidelityConfig(max_invented=0)) == (
        "invented_concepts", "1 concepts absent from the prompt ['SNOMED:ejac'] > max_invented 0")
    assert fidelity_reason(f, FidelityConfig(max_changed_values=0)) == (
        "changed_values", "1 values absent from the prompt ['850'] > max_changed_values 0")


def _corpus():
    prompts = [Prompt(id=f"p{i}", recipe="rephrase", template="rephrase.v1", template_sha="t",
                      messages=[], vars={"text": SOURCE}, source_ids=[], seed=0) for i in range(4)]
    texts = ["Here is the rewritten clinical note excerpt with the requested edits and corrections:\n" + SOURCE,
             "Heteropelizia pedro is a non hispanic white male, 72 years old. " + "Juan pedro pedro, " * 30,
             "Patient has Ejaculation (disorder) and Gynecology (disorder). Takes metformin 500 mg twice daily "
             "since 2019-03-04. Weight 82 kg.",
             "Patient has hypertriglyceridemia and gingivitis. Takes metformin 5000 mg twice daily since "
             "2019-03-04. Weight 82 kg and well."]
    gens = [Generation(id=f"g{i}", prompt_id=f"p{i}", model="m", params_sha="s", text=t,
                       finish_reason="stop", n_prompt_tokens=1, n_completion_tokens=1) for i, t in enumerate(texts)]
    return prompts, gens


def test_postprocess_strips_drops_and_reports_fidelity_per_template():
    prompts, gens = _corpus()
    cfg = make_config(dedup={"threshold": 0.99}, min_kept_fraction=None, max_self_bleu_gap=None,
                      min_distinct_2_ratio=None, max_check_dropped_fraction=None,
                      recipes={"rephrase": {"check": {"min_length_ratio": 0.1, "max_length_ratio": 10}}},
                      fidelity={"max_invented": 0})
    result = postprocess("rephrase", prompts, gens, [], [], cfg, seed=0, kg=KG, check=rephrase.CHECK)
    reasons = {d.id: d.reason for d in result.dropped}
    assert reasons == {"g1": "repetitive", "g2": "invented_concepts"}
    kept = {r.id: r for r in result.kept}
    assert kept["g0"].strips == ["preamble"] and kept["g0"].text == SOURCE
    assert kept["g3"].fidelity["changed_values"] == ["5000"]
    m = result.metrics
    assert m["counts"]["dropped"] == {"invented_concepts": 1, "repetitive": 1}
    assert m["degeneracy"]["stripped"] == {"preamble": 1} and m["degeneracy"]["dropped"] == {"repetitive": 1}
    t = m["fidelity"]["templates"]["rephrase.v1"]
    assert t["measured"] == 3 and t["with_invented"] == 1 and t["with_changed_values"] == 1
    assert m["fidelity"]["worst"][0]["id"] == "g2" and m["fidelity"]["worst"][0]["invented"] == ["SNOMED:ejac", "SNOMED:gyn"]
    why = explain_dropped(to_jsonable(next(d for d in result.dropped if d.id == "g2")))
    assert "dropped as invented_concepts" in why and "invented: SNOMED:ejac, SNOMED:gyn" in why
