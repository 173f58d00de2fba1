import pytest

from clinsynth.fhir.flatten import concept, goal_text, number


EXPECTED = {
    "p1": "Patient | born 1960-05-01 | female",
    "e2": "Encounter | Encounter for symptom (SNOMED 185345009) | 2021-06-10 | ambulatory | reason Acute bronchitis | finished",
    "c1": "Condition | Essential hypertension (SNOMED 59621000) | onset 2001-03-04 | active",
    "c2": "Condition | Acute bronchitis (SNOMED 10509002) | onset 2021-06-10 | resolved 2021-06-24 | resolved",
    "m1": "MedicationRequest | lisinopril 10 MG Oral Tablet (RxNorm 314076) | authored 2019-03-04 | reason Essential hypertension | active",
    "ma1": "MedicationAdministration | 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler (RxNorm 745679) | 2021-06-10 | reason Acute bronchitis | completed",
    "o1": "Observation | Body Weight (LOINC 29463-7) | 2019-03-04 | 80.5 kg | final",
    "o3": "Observation | Blood pressure panel with all children optional (LOINC 85354-9) | 2021-06-10 | Systolic blood pressure 132 mm[Hg]; Diastolic blood pressure 84.25 mm[Hg] | final",
    "o4": "Observation | Tobacco smoking status (LOINC 72166-2) | 2021-06-10 | Never smoked tobacco | final",
    "o5": "Observation | Total cholesterol (LOINC 2093-3) | 2021-06-10 | 190.12 mg/dL | final",
    "pr2": "Procedure | Medication reconciliation (SNOMED 430193006) | performed 2021-06-10 | completed",
    "pr3": "Procedure | Spirometry (SNOMED 127783003) | performed 2021-06-10 | reason Acute bronchitis | completed",
    "i1": "Immunization | Influenza, seasonal, injectable, preservative free (CVX 140) | 2021-06-10 | completed",
    "a1": "AllergyIntolerance | Peanut (SNOMED 762952008) | onset 2005-01-01 | low allergy | active",
    "dr1": "DiagnosticReport | Lipid panel with direct LDL - Serum or Plasma (LOINC 57698-3) | 2021-06-10 | results Total cholesterol | final",
    "cp1": "CarePlan | Lifestyle education regarding hypertension (SNOMED 443402002) | 2019-03-04 | activities Prescribed activity/exercise education; Counseling about alcohol consumption | addresses Essential hypertension | active",
    "ct1": "CareTeam | 2019-03-04 | reason Essential hypertension | active",
    "g1": "Goal | Systolic blood pressure < 140 | start 2019-03-04 | active",
    "d1": "Device | Patient data recorder (SNOMED 706767009) | manufactured 2019-01-01 | active",
    "is1": "ImagingStudy | Plain chest X-ray (SNOMED 399208008) | 2021-06-10 | modality Digital Radiography | available",
    "sd1": "SupplyDelivery | Blood glucose testing strips (SNOMED 337388004) | 2021-06-10 | 2 | completed",
}


@pytest.mark.parametrize("resource_id", sorted(EXPECTED))
def test_flattened_text(resources, resource_id):
    by_id = {r.id: r for r in resources}
    assert by_id[resource_id].text == EXPECTED[resource_id]


def test_every_kept_type_is_covered(resources):
    assert {r.type for r in resources} == {r.type for r in resources if r.id in EXPECTED}


def test_structured_fields(resources):
    by_id = {r.id: r for r in resources}
    m1 = by_id["m1"]
    assert (m1.code, m1.display, m1.status, m1.reason_ids) == ("RxNorm 314076", "lisinopril 10 MG Oral Tablet", "active", ["c1"])
    assert by_id["o2"].date == "2021-06-10T10:00:00+00:00" and by_id["o2"].value == "78 kg"
    assert by_id["pr2"].date.startswith("2021-06-10")  # performedPeriod.start
    assert "org1" not in by_id  # Organization is not a kept type
    assert all(r.patient_id == "p1" and r.split == "test" for r in resources)


def test_patient_line_has_no_name(resources):
    assert "Jane" not in resources[0].text and "Doe" not in resources[0].text


@pytest.mark.parametrize("value, expected", [(124.2, "124.2"), (70.0, "70"), (3.14159, "3.14"), (0, "0")])
def test_number(value, expected):
    assert number(value) == expected


def test_concept_strips_only_snomed_semantic_tags():
    snomed = {"coding": [{"system": "http://snomed.info/sct", "code": "1", "display": "Fracture of ankle (disorder)"}]}
    other = {"coding": [{"system": "http://example.org/cs", "code": "X", "display": "Thing (kind)"}]}
    assert concept(snomed).label() == "Fracture of ankle (SNOMED 1)"
    assert concept(other).label() == "Thing (kind) (cs X)"
    assert concept({"text": "free text"}).label() == "free text"
    assert concept(None).label() == ""


def test_goal_text_falls_back_to_raw_text():
    assert goal_text("Lose weight") == "Lose weight"
    assert goal_text("{'observation': {'codes': [], 'operator': '<', 'value': 7}}") == "< 7"
