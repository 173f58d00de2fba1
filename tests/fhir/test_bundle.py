import copy
import json

import pytest

from clinsynth.fhir.bundle import FhirFormatError, parse_bundle, read_bundle
from clinsynth.fhir.ingest import ingest_records


def test_fixture_bundle_validates_and_names_patient(bundle_path):
    record = read_bundle(bundle_path)
    assert record.patient_id == "p1"
    assert record.source == "patient_bundle.json"
    assert len(record.resources) == 28


def _entry_index(bundle, resource_id):
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == resource_id)


def test_invalid_resource_names_file_entry_and_field(bundle):
    bad = copy.deepcopy(bundle)
    i = _entry_index(bad, "c1")
    bad["entry"][i]["resource"]["code"]["coding"] = "not a list"
    with pytest.raises(FhirFormatError) as err:
        parse_bundle(bad, "Pedro_1.json")
    assert str(err.value) == f"Pedro_1.json: entry {i} (Condition/c1): code.coding: Input should be a valid list"


def test_missing_required_field_is_reported(bundle):
    bad = copy.deepcopy(bundle)
    i = _entry_index(bad, "o1")
    del bad["entry"][i]["resource"]["status"]
    with pytest.raises(FhirFormatError, match=rf"^x.json: entry {i} \(Observation/o1\): status: Value for the field 'status' is required\.$"):
        parse_bundle(bad, "x.json")


def test_validation_restricted_to_types(bundle):
    bad = copy.deepcopy(bundle)
    del bad["entry"][_entry_index(bad, "o1")]["resource"]["status"]
    assert parse_bundle(bad, "x.json", validate_types={"Condition"}).patient_id == "p1"


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b.update(resourceType="Patient"), r"^x.json: expected a FHIR Bundle, found 'Patient'$"),
    (lambda b: b["entry"][1]["resource"].update(resourceType="Encounterr"),
     r"^x.json: entry 1 \(Encounterr/e1\): unknown resourceType 'Encounterr'"),
    (lambda b: b["entry"][2]["resource"].update(id="e1"), r"^x.json: entry 2 \(Encounter/e1\): duplicate resource id 'e1'"),
    (lambda b: b["entry"][3].pop("resource"), r"^x.json: entry 3: no resource with a resourceType"),
    (lambda b: b["entry"].pop(0), r"^x.json: expected exactly one Patient resource per bundle, found 0$"),
])
def test_bad_bundle_messages(bundle, mutate, message):
    bad = copy.deepcopy(bundle)
    mutate(bad)
    with pytest.raises(FhirFormatError, match=message):
        parse_bundle(bad, "x.json")


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Bundle",\n "entry": [\n}', encoding="utf-8")
    with pytest.raises(FhirFormatError, match=r"^broken.json: line 3: invalid JSON"):
        read_bundle(path)


def test_ingest_assigns_patient_splits_like_the_notes(bundle):
    from clinsynth.corpus import assign_splits

    records = []
    for n in range(5):
        b = json.loads(json.dumps(bundle).replace('"p1"', f'"pat{n}"').replace("urn:uuid:p1", f"urn:uuid:pat{n}"))
        for e in b["entry"]:
            if e["resource"]["resourceType"] != "Patient":
                e["resource"]["id"] += f"-{n}"
        records.append(parse_bundle(b, f"b{n}.json", validate_types=set()))
    fractions = {"train": 0.6, "dev": 0.2, "test": 0.2}
    result = ingest_records(records, ["Patient", "Condition"], fractions, seed=13, validate="none")
    expected = assign_splits([f"pat{n}" for n in range(5)], fractions, 13)
    assert {r.patient_id: r.split for r in result.resources} == expected
    assert result.metrics["resources_kept"] == 15
    assert result.metrics["kept_by_type"] == {"Condition": 10, "Patient": 5}
    assert result.metrics["dropped_by_type"]["Observation"] == 25
