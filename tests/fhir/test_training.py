"""The FHIR trainings and the evaluation's plumbing, as the stages call them (tiny model, files in tmp_path)."""

import dataclasses
import json

import pytest

from clinsynth.fhir.evaluation import (AnswerSettings, EvalData, EvalSetup, EvaluateFhirQaConfig, SequentialSettings,
                                       check_modes, predict_resources, read_eval_data)
from clinsynth.fhir.relevance import PairConfig, make_pairs
from clinsynth.fhir.relevance_lm import RelevanceLmConfig
from clinsynth.fhir.synthetic import AnswerData, RelevanceData
from clinsynth.fhir.templated import TemplateConfig, generate_questions
from clinsynth.fhir.training import (FhirConfig, FhirModels, FinetuneFhirAnswerConfig, FinetuneFhirSequentialConfig,
                                     PhaseOneTrain, SequentialRelevancePhase, finetune_answer, finetune_sequential,
                                     read_inputs)
from clinsynth.generation.types import SamplingParams
from clinsynth.params import ConfigError
from clinsynth.records import write_jsonl
from clinsynth.training.lora import LoraTrainConfig

from .test_corpus import gated_record

TRAIN = LoraTrainConfig(r=4, alpha=8, max_length=256, min_reply_tokens=4, batch_size=2, max_steps=2,
                        learning_rate=0.01, warmup_steps=1, threads=1)


def write_inputs(tmp_path, resources, split="train"):
    """corpus, resources, pairs and questions files as postprocess@fhir_qa and fhir_qa_testset write them."""
    rows = [{**dataclasses.asdict(r), "split": split, "patient_id": "p1"} for r in resources]
    questions = generate_questions({"p1": [dataclasses.replace(r, patient_id="p1", split=split) for r in resources]},
                                   TemplateConfig(per_template=2, absent_procedures=0), 13)
    pairs = make_pairs(questions, {"p1": resources}, PairConfig(), 13)
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("corpus", "resources", "pairs", "questions")}
    write_jsonl(paths["corpus"], [gated_record([resources[1].id], patient_id="p1"),
                                  gated_record([resources[2].id], prompt_id="fhir_qa.write.v1:02", patient_id="p1")])
    write_jsonl(paths["resources"], rows)
    write_jsonl(paths["pairs"], pairs)
    write_jsonl(paths["questions"], questions)
    return paths


def fhir_config(paths, base_model, train_data="both") -> FhirConfig:
    return FhirConfig(str(paths["corpus"]), str(paths["resources"]), str(base_model),
                      RelevanceData(train_data, str(paths["pairs"]), PairConfig()),
                      AnswerData(train_data, str(paths["questions"]), "fhir_qa.answer.v1", 3, 4, TRAIN),
                      RelevanceLmConfig("fhir_qa.relevance.v1", 128), FhirModels("rel", "ans", "seq"))


def test_read_inputs_reads_only_what_train_data_uses(tmp_path, resources):
    paths = write_inputs(tmp_path, resources)
    paths["corpus"].write_text("{not json\n")  # a templated-only training never opens the corpus
    inputs = read_inputs(fhir_config(paths, "m", "templated"), relevance=True, answer=False)
    assert inputs.corpus == [] and inputs.resources == [] and inputs.pairs and inputs.questions == []
    with pytest.raises(ValueError, match=r"corpus\.jsonl:1: invalid JSON"):
        read_inputs(fhir_config(paths, "m", "llm"), relevance=True, answer=False)


def test_finetune_answer_records_the_template_that_rendered_its_pairs(tmp_path, resources, tiny_model_dir,
                                                                       test_templates):
    paths = write_inputs(tmp_path, resources)
    fhir = fhir_config(paths, tiny_model_dir)
    run = finetune_answer(FinetuneFhirAnswerConfig(qlora=False), fhir, read_inputs(fhir, False, True),
                          test_templates["answer"], seed=13)
    assert run.facts["template"] == "fhir_qa.answer.v1" and run.facts["template_sha"] == test_templates["answer"].sha
    assert (run.facts["llm_questions"], run.facts["pairs"], run.facts["steps"]) == (2, 3, 2)
    assert run.summary.startswith("finetune_fhir_answer: both: 3 pairs, 2 steps")
    assert [r["step"] for r in run.history[""]] == [1, 2] and run.card.stage == "finetune_fhir_answer"


def test_finetune_sequential_continues_one_adapter_and_names_both_templates(tmp_path, resources, tiny_model_dir,
                                                                           test_templates):
    paths = write_inputs(tmp_path, resources)
    fhir = fhir_config(paths, tiny_model_dir)
    cfg = FinetuneFhirSequentialConfig(SequentialRelevancePhase(6, PhaseOneTrain(2, 2, 2, 0.01, 1, False)))
    run = finetune_sequential(cfg, fhir, read_inputs(fhir, True, True), test_templates, seed=13)
    assert run.facts["relevance"]["pairs"] == 6 and run.facts["relevance"]["available"]["llm"] > 0
    assert {phase: run.facts[phase]["template"] for phase in ("relevance", "answer")} == {
        "relevance": "fhir_qa.relevance.v1", "answer": "fhir_qa.answer.v1"}
    assert run.facts["answer"]["template_sha"] == test_templates["answer"].sha
    assert {phase: len(rows) for phase, rows in run.history.items()} == {"relevance": 2, "answer": 2}


@pytest.mark.parametrize("modes", [[], ["separate", "separate"]])
def test_training_modes_must_be_distinct_and_some(modes):
    with pytest.raises(ConfigError, match=r"evaluate_fhir_qa\.training_modes: .* expected a non-empty list"):
        check_modes(modes)


def test_eval_data_and_end_to_end_prediction(tmp_path, resources):
    paths = write_inputs(tmp_path, resources, split="test")
    cfg = EvaluateFhirQaConfig(["separate"], str(paths["questions"]), str(paths["pairs"]), str(paths["pairs"]), 0.5,
                               8, 1, AnswerSettings(2, SamplingParams(), candidates=3, top_k=1),
                               SequentialSettings(0, 4))
    data = read_eval_data(cfg, str(paths["resources"]), seed=13)
    assert isinstance(data, EvalData) and len(data.asked) == 2 and len(data.questions) > 2
    assert set(data.by_id) == {r.id for r in resources}
    setup = EvalSetup(cfg, None, None, {}, None, 13, "demo")
    seen = []

    def score(pairs):
        seen.extend(pairs)
        return [1.0 - i / len(pairs) for i in range(len(pairs))]  # the first shortlisted resource scores highest

    predicted = predict_resources(setup, data, score, threshold=0.0)
    assert len(seen) == 3 * len(data.asked) and all(len(ids) == 1 for ids in predicted.values())
    assert json.dumps(predicted)  # question id -> resource ids, as metrics hold them
