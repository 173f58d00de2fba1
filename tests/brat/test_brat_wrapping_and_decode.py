"""LLM chat wrapping never reaches a decoded BRAT document; `clinsynth brat decode` round-trips a corpus (issue 17)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinsynth.brat import DecodeRejection, Document, encode_segments, parse_ann, read_document
from clinsynth.brat.decode import decode_segment, strip_wrapping
from clinsynth.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "brat"
CORPUS = FIXTURES / "corpus"
REWRITE = "Began [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]]."
runner = CliRunner()


def first_segment():
    doc = read_document(CORPUS / "note_01.txt")
    return doc, encode_segments(doc, [(0, 28), (29, 74), (75, 93), (94, 142), (143, 182), (183, 202)]).segments[0]


@pytest.mark.parametrize("reply, stripped", [
    (f"Sure! Here is the rewritten text:\n{REWRITE}", ("preamble",)),
    (f"Sure! Here is the rewritten text: {REWRITE}", ("preamble",)),
    (f"Certainly.\n{REWRITE}", ("preamble",)),
    (f"```\n{REWRITE}\n```", ("code_fence",)),
    (f"Here's the rewrite:\n```text\n{REWRITE}\n```\nLet me know if you need changes.",
     ("code_fence", "preamble", "postamble")),
    (f"{REWRITE}\nI hope this helps!", ("postamble",)),
])
def test_chat_wrapping_is_stripped_and_counted_when_the_rest_decodes(reply, stripped):
    doc, segment = first_segment()
    plain = decode_segment(doc, segment, REWRITE)
    result = decode_segment(doc, segment, reply)
    assert result.stripped == stripped
    assert result.document == plain.document          # exactly what the bare rewrite gives
    assert "Sure" not in result.document.text and "```" not in result.document.text


@pytest.mark.parametrize("reply, reason, detail", [
    ("Sure! Here is the rewritten text:", "chatter_only",
     "reply 'Here is the rewritten text:' is an assistant's preamble, not a rewrite"),
    ("Here is the rewritten text:\nBegan [[Drug: metformin]] [[Dose: 500 mg for diabetes.", "broken_markup",
     "offset 26: '[[' never closed near '[[Drug: metformin]] [[Dose: 500 mg for d' (after stripping preamble)"),
    ("```\nBegan [[Drug: metformin]] for [[Condition: diabetes]].\n```", "entity_missing",
     "entities ['T2 Dose: 500 mg'] missing (recall 0.67 < 1.0) (after stripping code_fence)"),
])
def test_wrapped_reply_whose_rest_does_not_decode_is_rejected(reply, reason, detail):
    doc, segment = first_segment()
    assert decode_segment(doc, segment, reply) == DecodeRejection("note_01", "note_01:0", reason, detail)


def test_a_segment_that_itself_starts_like_a_preamble_is_kept_whole():
    text = "Here is the plan:\nStart metformin.\n"
    doc = parse_ann("T1\tDrug 24 33\tmetformin\n", doc_id="d", doc_text=text)
    segment = encode_segments(doc, [(0, 34)]).segments[0]
    assert segment.encoded == "Here is the plan:\nStart [[Drug: metformin]]."
    result = decode_segment(doc, segment, "Here is the plan:\nBegin [[Drug: metformin]].")
    assert result.stripped == () and result.document.text == "Here is the plan:\nBegin metformin.\n"
    assert strip_wrapping("Sure, begin metformin.", "sure, start metformin.") == ("Sure, begin metformin.", ())


def encode(tmp_path) -> Path:
    segments = tmp_path / "segments.jsonl"
    assert runner.invoke(app, ["brat", "encode", str(CORPUS), str(segments)]).exit_code == 0
    return segments


def test_decode_of_an_unmodified_encoding_reproduces_the_corpus_byte_for_byte(tmp_path):
    out = tmp_path / "decoded"
    result = runner.invoke(app, ["brat", "decode", str(CORPUS), str(encode(tmp_path)), str(out), "--check"])
    assert result.exit_code == 0, result.output
    assert result.output == (f"2 documents written to {out}: 2 byte-identical to {CORPUS}, 0 differ; 6 segments: "
                             "6 decoded, 0 rejected {}, wrapping stripped {}\n")
    for source in sorted(CORPUS.iterdir()):
        assert (out / source.name).read_bytes() == source.read_bytes()


def test_decode_applies_rewrites_strips_wrapping_and_check_fails_on_a_difference(tmp_path):
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps({"segment_id": "note_01:0", "text": f"Sure! Here is the rewritten text:\n{REWRITE}"})
                       + "\n" + json.dumps({"segment_id": "note_01:1", "text": "Denies [[Drug: chest pain]]."}) + "\n",
                       encoding="utf-8")
    out = tmp_path / "decoded"
    result = runner.invoke(app, ["brat", "decode", str(CORPUS), str(encode(tmp_path)), str(out),
                                 "--replies", str(replies), "--check"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"2 documents written to {out}: 1 byte-identical to {CORPUS}, 1 differ (first: note_01); 6 segments: "
        "5 decoded, 1 rejected {'label_changed': 1}, wrapping stripped {'preamble': 1}",
        "  note_01:1: label_changed: 'chest pain' marked 'Drug'; entity T4 is 'Symptom'",
    ]
    text = (out / "note_01.txt").read_text(encoding="utf-8")
    assert text.splitlines()[1] == "Began metformin 500 mg for type 2 diabetes." and "Sure" not in text


def test_decode_refuses_to_write_inside_the_corpus(tmp_path):
    result = runner.invoke(app, ["brat", "decode", str(CORPUS), str(encode(tmp_path)), str(CORPUS / "out")])
    assert result.exit_code == 2
    assert f"{CORPUS / 'out'}: inside the corpus {CORPUS}; decode into another folder" in result.output
