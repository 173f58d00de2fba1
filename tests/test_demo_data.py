import json
from pathlib import Path

from clinsynth.demo_data import build_demo, load_crosswalk, synthea_properties

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = json.loads((ROOT / "tests/fixtures/fhir/mini_bundle.json").read_text())
CROSSWALK = load_crosswalk(ROOT / "src/clinsynth/data/snomed_icd10cm.tsv")


def test_crosswalk_rows_are_valid_icd10cm():
    import simple_icd_10_cm as cm

    mapped = [row for row in CROSSWALK.values() if row.icd10cm]
    assert len(mapped) >= 60
    assert all(cm.is_valid_item(row.icd10cm) for row in mapped)
    assert CROSSWALK["59621000"].icd10cm == "I10"
    assert CROSSWALK["224299000"].method == "not_a_disease" and CROSSWALK["224299000"].icd10cm == ""


def test_note_is_labelled_with_its_encounter_record():
    result = build_demo({"mini.json": BUNDLE}, CROSSWALK, ["Claim", "ExplanationOfBenefit"])
    (note,) = result.notes
    assert note["id"] == "d1" and note["text"].startswith("2020-01-01\n\n# Chief Complaint")
    meta = note["meta"]
    assert meta["patient_id"] == "pat1" and meta["date"] == "2020-01-01" and meta["encounter_id"] == "e1"
    assert meta["icd10"] == ["I10"] and meta["snomed"] == ["224299000", "59621000"]
    assert meta["medications"] == [{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet", "reasons": ["59621000"]}]
    assert meta["procedures"] == [{"snomed": "430193006", "display": "Medication reconciliation (procedure)"}]
    assert all(e["resource"]["resourceType"] != "Claim" for e in result.bundles["mini.json"]["entry"])
    assert result.metrics["conditions"]["occurrences_by_method"] == {"faker": 1, "not_a_disease": 1}


def test_synthea_properties_turn_notes_on_and_billing_off():
    props = synthea_properties(["Claim", "ExplanationOfBenefit"])
    assert "exporter.fhir.excluded_resources = Claim,ExplanationOfBenefit" in props
    assert "generate.clinical_notes = true" in props and "exporter.hospital.fhir.export = false" in props
