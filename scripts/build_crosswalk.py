"""Rebuild src/clinsynth/data/snomed_icd10cm.tsv from the conditions of a Synthea FHIR export.

    python scripts/build_crosswalk.py data/raw/fhir

Synthea codes conditions in SNOMED CT only. Each distinct condition is mapped, in order:
  not_a_disease  - social findings/situations (employment, education, ...): no ICD-10-CM label
  exact_name     - the display (semantic tag removed) equals an ICD-10-CM description
  inclusion_term - ... equals an ICD-10-CM inclusion term
  faker          - ... equals a disease name of faker-healthcare-provider's table
  curated        - a hand-checked code from CURATED below (every code validated against ICD-10-CM)
  unmapped       - none of the above; counted in metrics/demo_data.json
"""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
import simple_icd_10_cm as cm  # noqa: E402
from faker_healthcare.disease_correlations import DISEASE_CORRELATIONS  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src/clinsynth/data/snomed_icd10cm.tsv"
SOCIAL_TAGS = {"situation", "person"}
SOCIAL_FINDINGS = {
    "224299000", "160903007", "160904001", "741062008", "266948004", "423315002", "422650009",
    "424393004", "1187604002", "706893006", "160968000", "32911000", "73595000",
}
CURATED = {
    "444814009": "J01.90", "66383009": "K05.10", "714628002": "R73.03", "195662009": "J02.9",
    "162864005": "E66.9", "10509002": "J20.9", "6525002": "F19.20", "18718003": "K06.9",
    "65363002": "H66.90", "72892002": "Z34.90", "43878008": "J02.0", "44054006": "E11.9",
    "109570002": "K02.9", "82423001": "G89.29", "302870006": "E78.1", "271737000": "D64.9",
    "307426000": "N30.00", "237602007": "E88.81", "124171000119105": "G43.719", "196416002": "K01.1",
    "80583007": "F41.0", "408512008": "E66.01", "278860009": "M54.50", "59621000": "I10",
    "75498004": "J01.90", "40055000": "J32.9", "36971009": "J32.9", "1121000119107": "M54.2",
    "233604007": "J18.9", "431855005": "N18.1", "433144002": "N18.30", "431856006": "N18.2",
    "46177005": "N18.6", "37796009": "G43.909", "156370009": "L40.50", "55822004": "E78.5",
    "840539006": "U07.1", "84229001": "R53.83", "386661006": "R50.9", "49727002": "R05.9",
    "39898005": "G47.9", "78275009": "G47.33", "368581000119106": "E11.40", "127013003": "E11.29",
    "90781000119102": "E11.29", "157141000119108": "E11.29", "363406005": "C18.9", "398254007": "O14.90",
    "233678006": "J45.909", "195967001": "J45.909", "60573004": "I35.0", "239872002": "M16.9",
    "239873007": "M17.9", "74400008": "K37", "9014002": "L40.9", "446096008": "J30.89",
    "13746004": "F31.9", "370143000": "F32.9", "414545008": "I25.9", "49436004": "I48.91",
    "26929004": "G30.9", "22298006": "I21.9", "401303003": "I21.3", "68496003": "K63.5",
    "6072007": "K62.5", "236077008": "R19.7", "85116003": "O03.9", "19169002": "O03.9",
    "1149222004": "T50.901A",
}
TAG = re.compile(r"\s*\(([^()]*)\)\s*$")


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def name_index() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    by_desc, by_incl = {}, {}
    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code):
            continue
        by_desc.setdefault(norm(cm.get_description(code)), code)
        for term in cm.get_inclusion_term(code):
            by_incl.setdefault(norm(term), code)
    by_faker = {norm(name): row["icd10"] for name, row in DISEASE_CORRELATIONS.items()}
    return by_desc, by_incl, by_faker


def conditions(fhir_dir: Path) -> dict[str, str]:
    found = {}
    for path in sorted(fhir_dir.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")).get("entry", []):
            res = entry["resource"]
            if res["resourceType"] == "Condition":
                coding = res["code"]["coding"][0]
                found.setdefault(coding["code"], coding["display"])
    return found


def map_condition(code: str, display: str, indexes) -> tuple[str, str]:
    tag_match = TAG.search(display)
    tag = tag_match.group(1) if tag_match else ""
    name = norm(TAG.sub("", display))
    if tag in SOCIAL_TAGS or code in SOCIAL_FINDINGS:
        return "", "not_a_disease"
    for index, method in zip(indexes, ("exact_name", "inclusion_term", "faker")):
        if name in index:
            return index[name], method
    if code in CURATED:
        assert cm.is_valid_item(CURATED[code]), CURATED[code]
        return CURATED[code], "curated"
    return "", "unmapped"


def main(fhir_dir: str) -> None:
    indexes = name_index()
    rows = [(code, display, *map_condition(code, display, indexes)) for code, display in conditions(Path(fhir_dir)).items()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["snomed", "display", "icd10cm", "method"])
        writer.writerows(sorted(rows, key=lambda r: int(r[0])))
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
