"""FHIR bundles that are not UTF-8, or hold a lone surrogate, fail at read time with the file and line."""

import pytest

from clinsynth.fhir.bundle import FhirFormatError, read_bundle


def test_bundle_not_utf8_names_file_line_and_byte(tmp_path):
    path = tmp_path / "p1.json"
    path.write_bytes(b'{"resourceType": "Bundle",\n "entry": [{"x": "caf\xe9"}]}')
    with pytest.raises(FhirFormatError) as err:
        read_bundle(path)
    assert str(err.value) == ("p1.json: line 2, byte 48: 0xe9 is not UTF-8 (invalid continuation byte); "
                              "FHIR JSON is UTF-8: convert the file")


def test_bundle_lone_surrogate_is_rejected_before_any_write(tmp_path):
    path = tmp_path / "p1.json"
    path.write_text('{"resourceType": "Bundle",\n "entry": [{"x": "half \\ud800 pair"}]}')
    with pytest.raises(FhirFormatError) as err:
        read_bundle(path)
    assert str(err.value) == ("p1.json: line 2: \\ud800 is half of a UTF-16 surrogate pair (a lone surrogate); "
                              "fix the escape")
