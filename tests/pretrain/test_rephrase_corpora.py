import dataclasses
import json

import pytest

from clinsynth.pretraining.corpora import (CorpusError, build_corpora, parse_corpus_name, read_corpus,
                                           read_rephrase_records, write_corpora)
from clinsynth.records import RecordFormatError, SyntheticRecord


@pytest.fixture()
def records(fixtures_dir):
    return read_rephrase_records(fixtures_dir / "tiny_records.jsonl")


def test_records_read_as_the_gated_corpus(records):
    assert len(records) == 10 and all(isinstance(r, SyntheticRecord) for r in records)


@pytest.mark.parametrize("name, sources", [
    ("real", ("real",)), ("none", ()), ("real+rephrase.concise.v1", ("real", "rephrase.concise.v1")),
    ("smollm2-135m-instruct__rephrase.general.v1", ("smollm2-135m-instruct__rephrase.general.v1",)),
])
def test_corpus_names_parse(name, sources):
    assert parse_corpus_name(name) == sources


@pytest.mark.parametrize("name", ["real/x", "real+real", "none+real", ""])
def test_bad_corpus_names_fail(name):
    with pytest.raises(CorpusError, match="corpus name"):
        parse_corpus_name(name)


def test_build_corpora_groups_by_model_and_template(chunks, records):
    corpora = build_corpora(["real", "rephrase.concise.v1", "real+rephrase.concise.v1",
                             "other-model__rephrase.general.v1"], chunks, records)
    assert [t.id for t in corpora["real"]] == ["n1:0", "n1:1", "n2:0", "n2:1", "n3:0"]  # train split only
    assert [t.source for t in corpora["rephrase.concise.v1"]] == ["smollm2-135m-instruct__rephrase.concise.v1"] * 4
    assert {t.source for t in corpora["real+rephrase.concise.v1"]} == {"real", "smollm2-135m-instruct__rephrase.concise.v1"}
    assert [t.text for t in corpora["other-model__rephrase.general.v1"]] == ["Cough and fever; hypertension."]


def test_template_of_two_models_is_ambiguous(chunks, records):
    with pytest.raises(CorpusError, match=r"'rephrase.general.v1' was produced by several models .*name one"):
        build_corpora(["rephrase.general.v1"], chunks, records)


def test_unknown_template_lists_available(chunks, records):
    with pytest.raises(CorpusError, match=r"'rephrase.x.v9': no kept rephrase record .* available: real, "):
        build_corpora(["rephrase.x.v9"], chunks, records)


def test_a_malformed_record_names_file_line_and_field(tmp_path):
    bad = tmp_path / "records.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "t", "model": "m"}) + "\n")
    with pytest.raises(RecordFormatError, match=r"records.jsonl:1: missing field 'recipe'; a SyntheticRecord needs"):
        read_rephrase_records(bad)


def test_split_writes_only_changed_corpora_and_removes_stale(tmp_path, chunks, records):
    names = ["real", "rephrase.concise.v1", "real+rephrase.concise.v1", "stale"]
    (tmp_path / "stale.jsonl").write_text("{}\n")
    corpora = build_corpora(names[:3], chunks, records)
    assert write_corpora(tmp_path, corpora) == dict.fromkeys(names[:3], True)
    assert not (tmp_path / "stale.jsonl").exists()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    # a prompt edit changes one template's texts: only the corpora that use it are rewritten
    edited = [dataclasses.replace(r, text=r.text + " (edited)") if r.template == "rephrase.concise.v1" else r for r in records]
    written = write_corpora(tmp_path, build_corpora(names[:3], chunks, edited))
    assert written == {"real": False, "rephrase.concise.v1": True, "real+rephrase.concise.v1": True}
    assert (tmp_path / "real.jsonl").stat().st_mtime_ns == before["real.jsonl"]
    assert read_corpus(tmp_path / "rephrase.concise.v1.jsonl")[0].text.endswith("(edited)")
