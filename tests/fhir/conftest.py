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
