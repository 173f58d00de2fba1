"""The gated fhir_qa corpus (postprocess@fhir_qa's records.jsonl) as the FHIR tasks read it: validated, file:line."""

import dataclasses
import json

import pytest

from clinsynth.fhir.synthetic import FhirCorpusError, llm_questions, read_corpus
from clinsynth.records import RecordFormatError, SyntheticRecord, write_jsonl


def gated_record(cited, prompt_id="fhir_qa.write.v1:01", patient_id="p1", **parsed) -> SyntheticRecord:
    """A SyntheticRecord as postprocess@fhir_qa writes one (parsed: the fhir_qa parser's fields)."""
    fields = {"patient_id": patient_id, "question": "What was the last body weight?", "answer": "78 kg on 2021-06-10.",
              "refs": [f"R{i + 1}" for i in range(len(cited))], "resource_ids": list(cited)} | parsed
    fields["text"] = f"{fields['question']}\n{fields['answer']}"
    shown = [{"id": r, "ref": f"R{i + 1}", "text": f"entry {i + 1}"} for i, r in enumerate(cited)]
    return SyntheticRecord(id=f"gen-{prompt_id}", recipe="fhir_qa", prompt_id=prompt_id, template="fhir_qa.write.v1",
                           template_sha="0" * 16, model="m@0", source_ids=[f"{patient_id}:q0", *cited],
                           text=fields["text"], parsed=fields,
                           vars={"patient_id": patient_id, "resources": shown, "target": "R1"}, contract=None,
                           leakage={}, checks={})


def test_read_corpus_round_trip_and_questions(tmp_path):
    records = [gated_record(["o2"], prompt_id="fhir_qa.write.v1:02"), gated_record(["o1", "o3"])]
    path = tmp_path / "records.jsonl"
    write_jsonl(path, records)
    read = read_corpus(path)
    assert read == records
    first, second = llm_questions(read)  # sorted by prompt id
    assert (first.id, first.patient_id, first.resource_ids, first.answer) == ("fhir_qa.write.v1:01", "p1",
                                                                            ["o1", "o3"], "78 kg on 2021-06-10.")
    assert second.id == "fhir_qa.write.v1:02" and first.split == "train"


def test_a_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "records.jsonl"
    good = json.dumps(dataclasses.asdict(gated_record(["o1"])))
    path.write_text(f"{good}\n\n{{not json\n", encoding="utf-8")
    with pytest.raises(RecordFormatError, match=rf"{path.name}:3: invalid JSON"):
        read_corpus(path)
    path.write_text(f"{good}\n{json.dumps({'id': 'x'})}\n", encoding="utf-8")
    with pytest.raises(RecordFormatError, match=rf"{path.name}:2: missing field 'recipe'; a SyntheticRecord needs"):
        read_corpus(path)


@pytest.mark.parametrize(("change", "message"), [
    ({"parsed": {"question": "When?", "answer": "Then."}}, r"parsed\.resource_ids = None; expected a list"),
    ({"parsed": {"question": 7, "answer": "a", "resource_ids": []}}, r"parsed\.question = 7; expected a str"),
    ({"vars": {}}, r"vars\.patient_id = None; expected the prompt's patient id"),
    ({"recipe": "rephrase"}, r"recipe 'rephrase'; expected a record of corpus fhir_qa"),
])
def test_a_record_without_the_fields_the_tasks_read_names_its_line(tmp_path, change, message):
    """Line numbers count the file's lines (a blank line included), as read_records counts them."""
    path = tmp_path / "records.jsonl"
    bad = dataclasses.replace(gated_record(["o2"]), **change)
    path.write_text("\n".join([json.dumps(dataclasses.asdict(gated_record(["o1"]))), "",
                               json.dumps(dataclasses.asdict(bad))]) + "\n", encoding="utf-8")
    with pytest.raises(FhirCorpusError, match=rf"{path.name}:3: {message}"):
        read_corpus(path)


def test_an_empty_corpus_reads_as_no_record(tmp_path):
    (tmp_path / "records.jsonl").write_text("", encoding="utf-8")
    assert read_corpus(tmp_path / "records.jsonl") == []
