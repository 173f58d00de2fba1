import json
from pathlib import Path

import pytest

from clinsynth.fhir.bundle import read_bundle
from clinsynth.fhir.flatten import flatten_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
ROOT = Path(__file__).resolve().parents[2]
KEEP = ["Patient", "Encounter", "Condition", "MedicationRequest", "MedicationAdministration", "Observation",
        "Procedure", "Immunization", "AllergyIntolerance", "DiagnosticReport", "CarePlan", "CareTeam", "Goal",
        "Device", "ImagingStudy", "SupplyDelivery"]


@pytest.fixture(scope="session")
def bundle_path() -> Path:
    return FIXTURES / "patient_bundle.json"


@pytest.fixture(scope="session")
def bundle(bundle_path) -> dict:
    return json.loads(bundle_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def resources(bundle_path):
    record = read_bundle(bundle_path)
    return flatten_record(record.resources, record.patient_id, "test", KEEP)


# Templates in the project's block dialect with wording of the tests' own, so no test depends on the wording
# of prompts/fhir_qa (tests/fhir/test_templates.py checks the real ones render with the variables the code supplies).
TEST_TEMPLATES = {
    "answer": "{% block system %}SYSTEM{% endblock %}\n{% block user %}{% for r in resources -%}\n- {{ r.text }}\n"
              "{% endfor %}Q: {{ question }}{% endblock %}\n",
    "relevance": "{% block system %}SYSTEM{% endblock %}\n{% block user %}Q: {{ question }}\nR: {{ resource }}"
                 "{% endblock %}\n",
}


@pytest.fixture(scope="session")
def test_templates(tmp_path_factory):
    """``{"answer": Template, "relevance": Template}``, named ``fhir_qa.<kind>.v1`` in a temporary prompts dir."""
    from clinsynth.prompting import load_template

    prompts = tmp_path_factory.mktemp("prompts")
    (prompts / "fhir_qa").mkdir()
    for kind, text in TEST_TEMPLATES.items():
        (prompts / "fhir_qa" / f"{kind}.v1.j2").write_text(text, encoding="utf-8")
    return {kind: load_template(prompts, f"fhir_qa.{kind}.v1") for kind in TEST_TEMPLATES}
