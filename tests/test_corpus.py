from pathlib import Path

import pytest

from clinsynth.corpus import (IngestError, IngestSource, Note, assign_splits, chunk_note, make_sentencizer,
                              read_sources, sentence_spans)

FIXTURES = Path(__file__).parent / "fixtures" / "notes"


@pytest.fixture(scope="module")
def nlp():
    return make_sentencizer()


def test_jsonl_reader_takes_meta_or_top_level_patient():
    notes, bad = read_sources([IngestSource(str(FIXTURES / "notes.jsonl"), "jsonl")], 10, "fail")
    assert [(n.id, n.meta["patient_id"]) for n in notes] == [("n1", "p1"), ("n2", "p2"), ("n3", "p3")]
    assert notes[0].meta["icd10"] == ["R05.9"] and bad == []


def test_mimic_csv_reader_keeps_multiline_text_and_codes():
    notes, _ = read_sources([IngestSource(str(FIXTURES / "noteevents.csv"), "csv")], 10, "fail")
    assert [n.id for n in notes] == ["mimic-1", "mimic-2"]
    assert notes[0].text == "Admitted with pneumonia.\nTreated with ceftriaxone, improved."
    assert notes[0].meta == {"patient_id": "101", "hadm_id": "9001", "note_type": "Discharge summary",
                             "icd10": ["J18.9"], "source": str(FIXTURES / "noteevents.csv")}
    assert notes[1].meta["icd10"] == []


def test_txt_dir_reader_uses_subfolder_as_patient():
    notes, _ = read_sources([IngestSource(str(FIXTURES / "txt"), "txt")], 10, "fail")
    assert [(n.id, n.meta["patient_id"]) for n in notes] == [
        ("p1__visit1", "p1"), ("p1__visit2", "p1"), ("p2__visit1", "p2")]


def test_all_three_formats_together():
    sources = [IngestSource(str(FIXTURES / "notes.jsonl"), "jsonl"), IngestSource(str(FIXTURES / "noteevents.csv"), "csv"),
               IngestSource(str(FIXTURES / "txt"), "txt")]
    notes, bad = read_sources(sources, 10, "fail")
    assert len(notes) == 8 and bad == []


def test_bad_jsonl_row_fails_with_file_and_line(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"id": "a", "text": "Fine note text here.", "patient_id": "p"}\n{"id": "b", "text": "No patient here at all."}\n')
    with pytest.raises(IngestError) as err:
        read_sources([IngestSource(str(path), "jsonl")], 5, "fail")
    assert str(err.value) == (f"{path}:2: missing_field: missing meta.patient_id; expected id, text and meta.patient_id "
                              "(set ingest.on_bad_row: skip to skip and count such rows)")


def test_skip_mode_counts_every_bad_row(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text(
        '{"id": "a", "text": "Fine note text here.", "patient_id": "p"}\n'
        "{not json\n"
        '{"id": "a", "text": "Same id again, not allowed.", "patient_id": "p"}\n'
        '{"id": "c", "text": "tiny", "patient_id": "p"}\n'
        '{"id": "d", "text": "   ", "patient_id": "p"}\n'
    )
    notes, bad = read_sources([IngestSource(str(path), "jsonl")], 10, "skip")
    assert [n.id for n in notes] == ["a"]
    assert [(b.where, b.reason) for b in bad] == [
        (f"{path}:2", "invalid_json"), (f"{path}:3", "duplicate_id"), (f"{path}:4", "too_short"), (f"{path}:5", "empty_text")]


def test_csv_with_wrong_header_is_reported(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("ID,TEXT\n1,hello\n")
    with pytest.raises(IngestError, match=r"n.csv:1: bad_header: missing columns \['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'CATEGORY'\]"):
        read_sources([IngestSource(str(path), "csv")], 1, "fail")


def test_splits_are_disjoint_by_patient_and_seeded():
    patients = [f"p{i}" for i in range(40)]
    fractions = {"train": 0.7, "dev": 0.15, "test": 0.15}
    a = assign_splits(patients * 3, fractions, seed=1)
    assert a == assign_splits(list(reversed(patients)), fractions, seed=1)
    assert a != assign_splits(patients, fractions, seed=2)
    assert sorted(a) == sorted(patients)  # each patient exactly once
    counts = {s: sum(1 for v in a.values() if v == s) for s in ("train", "dev", "test")}
    assert counts == {"train": 28, "dev": 6, "test": 6}


def test_small_cohorts_still_get_every_split():
    a = assign_splits(["x", "y", "z"], {"train": 0.8, "dev": 0.1, "test": 0.1}, seed=0)
    assert sorted(a.values()) == ["dev", "test", "train"]


def test_split_fractions_validated():
    with pytest.raises(IngestError, match="must have keys"):
        assign_splits(["a"], {"train": 0.5, "test": 0.5}, 0)


@pytest.mark.parametrize("chunk_chars", [20, 60, 1000])
def test_chunk_offsets_index_the_note(nlp, chunk_chars):
    text = ("2024-01-02\n\n# Chief Complaint\n- cough (finding)\n\n# HPI\nJoão is a 45 year-old man. He has a cough! "
            "No fever? " + "word " * 40 + "\r\nEnd.")
    note = Note("n", text, "train", {"patient_id": "p"})
    chunks = chunk_note(note, sentence_spans(text, nlp), chunk_chars)
    assert chunks, "no chunks"
    for chunk in chunks:
        assert note.text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert len(chunk.text) <= chunk_chars or " " not in chunk.text
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and all(a.end <= b.start for a, b in zip(chunks, chunks[1:]))
    # every non-space character of the note is in exactly one chunk
    covered = "".join(c.text for c in chunks).replace(" ", "").replace("\n", "").replace("\r", "")
    assert covered == text.replace(" ", "").replace("\n", "").replace("\r", "")


def test_sentences_break_on_lines_and_punctuation(nlp):
    text = "# Plan\n- aspirin 81 mg\nHe is well. She is not."
    assert [text[s:e] for s, e in sentence_spans(text, nlp)] == ["# Plan", "- aspirin 81 mg", "He is well.", "She is not."]
