"""params.yaml and dvc.yaml for the FHIR stages: shared settings said once, the gated corpus as the only LLM input,
templates named in params and depended on in dvc.yaml by the same file."""

import pytest
import yaml

from clinsynth.fhir.evaluation import EvaluateFhirQaConfig
from clinsynth.fhir.training import (FhirConfig, FinetuneFhirAnswerConfig, FinetuneFhirSequentialConfig,
                                     TrainFhirRelevanceConfig)
from clinsynth.params import load_params, read_params
from clinsynth.prompting import template_path

from .conftest import ROOT

STAGES = {"train_fhir_relevance": TrainFhirRelevanceConfig, "finetune_fhir_answer": FinetuneFhirAnswerConfig,
          "finetune_fhir_sequential": FinetuneFhirSequentialConfig, "evaluate_fhir_qa": EvaluateFhirQaConfig}
TEMPLATES = {"finetune_fhir_answer": ["answer"], "finetune_fhir_sequential": ["answer", "relevance_lm"],
             "evaluate_fhir_qa": ["answer", "relevance_lm"]}


def stage(name: str) -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][name]["do"]


@pytest.mark.parametrize("section", ["fhir", *STAGES])
def test_the_repository_params_load_into_the_fhir_configs(section):
    assert load_params(section, {"fhir": FhirConfig, **STAGES}[section], ROOT / "params.yaml")


def test_the_trainings_read_the_gated_corpus_postprocess_writes():
    params = read_params(ROOT / "params.yaml")
    assert params["fhir"]["corpus"] == f"{params['postprocess']['synthetic_dir']}/fhir_qa/records.jsonl"
    assert params["postprocess"]["corpora"]["fhir_qa"] == "fhir_qa"


@pytest.mark.parametrize("name", STAGES)
def test_no_fhir_stage_reads_the_prompts_or_the_generations(name):
    params = read_params(ROOT / "params.yaml")
    paths = params["base"]["paths"]
    deps = [d for d in stage(name)["deps"] if not d.startswith(("src/", "stages/", "${base.paths.prompts_dir}"))]
    assert not [d for d in deps if "generations" in d or "base.paths.prompts}" in d], deps
    text = yaml.safe_dump({k: params[k] for k in ("fhir", name)})
    assert paths["generations"] not in text and f"{paths['prompts']}/" not in text


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_named_in_params_is_a_dep_of_the_stage_that_renders_it(name):
    params = read_params(ROOT / "params.yaml")
    prompts_dir = params["base"]["paths"]["prompts_dir"]
    names = [params["fhir"][key]["template"] for key in TEMPLATES[name]]
    files = {str(template_path("${base.paths.prompts_dir}", n)) for n in names}
    listed = {d for d in stage(name)["deps"] if d.startswith("${base.paths.prompts_dir}/")}
    assert listed == files, f"{name}: dvc.yaml lists {sorted(listed)}, params.yaml names {names}"
    assert all(template_path(ROOT / prompts_dir, n).is_file() for n in names)


def test_shared_settings_are_said_once():
    """What the trainings and the evaluation must agree on lives in `fhir`, in no stage section."""
    params = read_params(ROOT / "params.yaml")
    shared = {"corpus", "generations", "resources", "template", "train_data", "max_context_resources", "base_model",
              "out_dir", "adapter", "model_dir", "llm_pairs", "max_length"}

    def keys(node, prefix=""):
        if isinstance(node, dict) and not set(node) <= {"demo", "full", "ci"}:
            for k, v in node.items():
                yield f"{prefix}{k}"
                yield from keys(v, f"{prefix}{k}.")

    found = [k for s in STAGES for k in keys(params[s], f"{s}.") if k.rpartition(".")[2] in shared]
    # the cross-encoder's own token budget is not shared (the LM's is fhir.relevance_lm.max_length)
    assert found == ["train_fhir_relevance.train.max_length"], found
