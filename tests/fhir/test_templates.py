"""The FHIR prompt templates: the project's block dialect, named by version, rendered through clinsynth.prompting.

Checked without any of their wording: roles, the variables the code supplies, and that every value shown
reaches the rendered messages.
"""

import pytest

from clinsynth.fhir.answers import answer_messages
from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.relevance_lm import relevance_messages
from clinsynth.params import read_params
from clinsynth.prompting import TemplateError, load_template, render_messages

from .conftest import ROOT

PROMPTS = ROOT / "prompts"


def resource(i: int, text: str) -> Resource:
    return Resource(f"r{i}", "Observation", "p1", "test", text, "", "", f"2021-0{i}-01", "", "", [])


@pytest.mark.parametrize("name", ["fhir_qa.answer.v1", "fhir_qa.relevance.v1", "fhir_qa.write.v1"])
def test_every_fhir_template_loads_in_the_block_dialect(name):
    template = load_template(PROMPTS, name)
    assert template.name == name and len(template.sha) == 16
    assert "{% set" not in template.source, "the project's dialect is {% block system %} / {% block user %}"


def test_the_answer_template_shows_the_question_and_every_resource_in_order():
    params = read_params(ROOT / "params.yaml")
    template = load_template(PROMPTS, params["fhir"]["answer"]["template"])
    shown = [resource(2, "Observation | Body Weight | 78 kg"), resource(1, "Condition | Asthma | active")]
    system, user = answer_messages("What was the last weight?", shown, template)
    assert (system.role, user.role) == ("system", "user") and system.content
    assert "What was the last weight?" in user.content
    assert user.content.index(shown[0].text) < user.content.index(shown[1].text)
    (_, empty) = answer_messages("Any?", [], template)  # no resource: still a prompt, no stray variable
    assert "Any?" in empty.content


def test_the_relevance_template_shows_the_question_and_the_resource():
    params = read_params(ROOT / "params.yaml")
    template = load_template(PROMPTS, params["fhir"]["relevance_lm"]["template"])
    system, user = relevance_messages("Has the patient had an appendectomy?", "Procedure | Appendectomy", template)
    assert (system.role, user.role) == ("system", "user") and system.content
    assert "Has the patient had an appendectomy?" in user.content and "Procedure | Appendectomy" in user.content


def test_a_variable_the_code_does_not_supply_is_named(tmp_path):
    (tmp_path / "fhir_qa").mkdir()
    (tmp_path / "fhir_qa" / "answer.v9.j2").write_text("{% block user %}{{ question }} {{ patient }}{% endblock %}")
    with pytest.raises(TemplateError, match=r"fhir_qa\.answer\.v9 .*undefined variable 'patient'"):
        answer_messages("When?", [], load_template(tmp_path, "fhir_qa.answer.v9"))


def test_the_sha_follows_the_file_not_the_name(tmp_path):
    (tmp_path / "fhir_qa").mkdir()
    path = tmp_path / "fhir_qa" / "relevance.v1.j2"
    path.write_text("{% block user %}{{ question }} {{ resource }}{% endblock %}")
    before = load_template(tmp_path, "fhir_qa.relevance.v1")
    path.write_text("{% block user %}{{ question }}: {{ resource }}{% endblock %}")
    after = load_template(tmp_path, "fhir_qa.relevance.v1")
    assert before.sha != after.sha and render_messages(after, {"question": "q", "resource": "r"})[0].content == "q: r"
