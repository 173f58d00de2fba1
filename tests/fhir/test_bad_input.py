"""Bad FHIR input (issue 17): Goal texts are never evaluated; odd references are counted."""

import copy
import json

import pytest

from clinsynth.fhir.bundle import parse_bundle
from clinsynth.fhir.flatten import goal_text
from clinsynth.fhir.ingest import ingest_records, reference_issues

SYNTHEA = ("{'observation': {'codes': [{'system': 'LOINC', 'code': '4548-4', 'display': 'Hemoglobin A1c'}], "
           "'operator': '<', 'value': 7}, 'addresses': ['diabetes']}")


@pytest.mark.parametrize("text, expected", [
    (SYNTHEA, "Hemoglobin A1c < 7"),
    ('{"observation": {"codes": [{"display": "Weight"}], "operator": "<=", "value": 80.5}}', "Weight <= 80.5"),
    ("{'observation': {'codes': [{'display': 'it\\'s \"quoted\"'}], 'operator': '>', 'value': None}}",
     "it's \"quoted\" > None"),
    ("{[]}", "{[]}"),                                                   # was TypeError (unhashable list)
    ("{" * 100_000 + "}" * 100_000, "{" * 120),                         # was RecursionError
    ("{'a': '" + "x" * 10_000_000 + "'}", ("{'a': '" + "x" * 120)[:120]),  # was a 10 MB eval
    ("{'observation': __import__('os').system('echo pwned')}", "{'observation': __import__('os').system('echo pwned')}"),
    ("{'observation': {'codes': 'not a list', 'value': 1}}", "1"),
    ("{'observation': 1e999999}", "{'observation': 1e999999}"),
    ("Lose weight", "Lose weight"),
])
def test_goal_text_parses_data_never_evaluates_it(text, expected):
    assert goal_text(text) == expected


def test_goal_text_never_calls_the_python_evaluator(monkeypatch):
    import ast
    import builtins

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated data as code")
    monkeypatch.setattr(ast, "literal_eval", refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    assert goal_text(SYNTHEA) == "Hemoglobin A1c < 7"


def _with(bundle, resource_id, **fields):
    bundle = copy.deepcopy(bundle)
    entry = next(e for e in bundle["entry"] if e["resource"]["id"] == resource_id)
    entry["resource"].update(fields)
    return bundle


def test_fixture_bundle_has_no_reference_issues(bundle):
    assert reference_issues(parse_bundle(bundle, "b.json", validate_types=set())) == {}


def test_dangling_references_and_foreign_subjects_are_counted_in_metrics(bundle):
    odd = _with(bundle, "c1", subject={"reference": "urn:uuid:someone-else"},
                encounter={"reference": "Encounter/missing"})
    odd = _with(odd, "e1", serviceProvider={"reference": "Organization?identifier=x|1"},  # conditional: resolved by a server
                participant=[{"individual": {"reference": "urn:uuid:gone"}}])
    record = parse_bundle(odd, "odd.json", validate_types=set())
    assert reference_issues(record) == {"dangling_references": 2, "foreign_subject": 1}
    metrics = ingest_records([record], ["Patient", "Condition"], {"train": 1.0, "dev": 0.0, "test": 0.0},
                             seed=1, validate="none").metrics
    assert (metrics["dangling_references"], metrics["foreign_subject"]) == (2, 1)
    assert metrics["resources_kept"] == json.dumps(odd).count('"resourceType": "Condition"') + 1  # nothing dropped
