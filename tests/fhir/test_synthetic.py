"""Gated LLM-written questions -> relevance pairs and LoRA answer pairs; the train_data switch; QLoRA's error."""

import pytest

from clinsynth.fhir.relevance import PairConfig, make_pairs, select_predicted, set_prf, shortlist
from clinsynth.fhir.synthetic import LLM_TEMPLATE, answer_pairs, llm_questions, training_questions
from clinsynth.fhir.templated import TemplateConfig, generate_questions
from clinsynth.training import lora

from .test_corpus import gated_record


def _generation(resources, cited):
    return gated_record(cited, prompt_id="fhir_qa.write.v1:01", patient_id="p1")


def test_llm_questions_become_pairs_cited_positive_rest_negative(resources):
    weights = [r.id for r in resources if r.display == "Body Weight"]
    (q,) = llm_questions([_generation(resources, weights[-1:])])
    assert (q.id, q.template, q.split, q.resource_ids) == ("fhir_qa.write.v1:01", LLM_TEMPLATE, "train", weights[-1:])
    pairs = make_pairs([q], {"p1": resources}, PairConfig(max_positives=8, negatives_per_positive=3, hard_fraction=0.5), 13)
    assert [p.resource_id for p in pairs if p.label == 1] == weights[-1:]
    negatives = [p for p in pairs if p.label == 0]
    assert len(negatives) == 3
    # another Body Weight (same code) is never a negative; negatives are the same patient's other resources
    assert not {p.resource_id for p in negatives} & set(weights)
    assert {p.resource_id for p in negatives} <= {r.id for r in resources}
    assert pairs == make_pairs([q], {"p1": resources}, PairConfig(), 13)


def test_training_questions_switch(resources):
    templated = generate_questions({"p1": resources}, TemplateConfig(per_template=1, absent_procedures=0), 13)
    llm = llm_questions([_generation(resources, [resources[1].id])])
    assert training_questions("llm", llm, templated) == llm
    assert training_questions("templated", llm, templated) == templated
    assert training_questions("both", llm, templated) == llm + templated
    with pytest.raises(ValueError, match=r"train_data: 'llm' gives no training question \(0 LLM-written, 3 templated\); postprocess@fhir_qa kept nothing"):
        training_questions("llm", [], templated)
    with pytest.raises(ValueError, match=r"expected one of \['llm', 'templated', 'both'\]"):
        training_questions("all", llm, templated)


def test_answer_pairs_render_the_evaluation_prompt(resources, test_templates):
    weights = [r.id for r in resources if r.display == "Body Weight"]
    (q,) = llm_questions([_generation(resources, weights)])
    (pair,) = answer_pairs([q], {r.id: r for r in resources}, test_templates["answer"], max_resources=1)
    assert pair.reply == "78 kg on 2021-06-10."
    user = pair.messages[-1]["content"]
    assert [m["role"] for m in pair.messages] == ["system", "user"]
    assert "2021-06-10 | 78 kg" in user and "80.5 kg" not in user  # newest first, at most 1
    assert user.endswith("Q: What was the last body weight?")


def test_qlora_fails_early_naming_what_is_missing(monkeypatch):
    monkeypatch.setattr(lora, "qlora_unavailable", lambda: ["bitsandbytes is not installed", "no CUDA device"])
    with pytest.raises(lora.LoraTrainingError, match=r"qlora: true needs bitsandbytes and a CUDA device; here: "
                                                     r"bitsandbytes is not installed, no CUDA device\. Set qlora: false"):
        lora.qlora_factory("models/none")


def test_end_to_end_selection(resources):
    question = "When was the last Body Weight recorded and what was its value?"
    listed = shortlist(question, resources, 3)
    assert all(r.display == "Body Weight" for r in listed[:2])
    assert select_predicted([("a", 0.9), ("b", 0.2), ("c", 0.95), ("d", 0.6)], threshold=0.5, top_k=2) == ["c", "a"]
    scores = set_prf({"q1": ["a", "b"], "q2": []}, {"q1": ["a", "c"], "q2": ["d"]})
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 1)
    assert scores["precision"] == pytest.approx(0.3333) and scores["recall"] == 0.5
