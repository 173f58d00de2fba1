"""One compact text line per FHIR resource, plus the structured fields the question templates use.

Format: ``Type | display (SYSTEM code) | dated fields | values | status``, empty parts left out, e.g.
``Condition | Essential hypertension (SNOMED 59621000) | onset 2001-03-04 | active`` or
``MedicationRequest | lisinopril 10 MG Oral Tablet (RxNorm 314076) | authored 2001-03-04 | reason Essential hypertension | active``.
SNOMED semantic tags (``(disorder)``, ``(procedure)``...) are dropped from display text; references
(``reasonReference``, ``DiagnosticReport.result``, ``CarePlan.addresses``) are resolved to the display
text of the resource they point at, so a line can be read without the rest of the bundle.
No names, addresses or identifiers are written (Patient is gender + birth date).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

SYSTEMS = {
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
}
SEMANTIC_TAG = re.compile(r"\s+\((?:[a-z]+(?:[ /][a-z]+)*)\)$")
MAX_LIST_ITEMS = 5


@dataclasses.dataclass(frozen=True)
class Resource:
    """A flattened resource (one line of ``resources.jsonl``).

    ``code`` is ``"SYSTEM code"`` of the first coding ("" if none); ``date`` the resource's main
    date-time as written in the bundle (ISO 8601; "" if none); ``reason_ids`` the ids this resource
    cites as its reason (MedicationRequest/Administration/Procedure ``reasonReference``).
    """

    id: str
    type: str
    patient_id: str
    split: str
    text: str
    code: str
    display: str
    date: str
    value: str
    status: str
    reason_ids: list[str]


@dataclasses.dataclass(frozen=True)
class Concept:
    code: str  # "SNOMED 59621000"
    display: str

    def label(self) -> str:
        return f"{self.display} ({self.code})" if self.code and self.display else self.display or self.code


def ref_id(reference: str) -> str:
    """``urn:uuid:abc`` or ``Condition/abc`` -> ``abc``."""
    return reference.removeprefix("urn:uuid:").split("/")[-1]


def concept(cc: dict[str, Any] | None) -> Concept:
    """First coding of a CodeableConcept; display falls back to ``text``; SNOMED semantic tags dropped."""
    if not cc:
        return Concept("", "")
    first = (cc.get("coding") or [{}])[0] if "coding" in cc or "text" in cc else cc  # a bare Coding too
    system = first.get("system", "")
    short = SYSTEMS.get(system, system.rstrip("/").split("/")[-1])
    display = first.get("display") or cc.get("text") or ""
    if short == "SNOMED":
        display = SEMANTIC_TAG.sub("", display)
    code = f"{short} {first['code']}" if first.get("code") else ""
    return Concept(code, display.strip())


def number(value: float | int) -> str:
    """124.2 -> '124.2', 70.0 -> '70', 3.14159 -> '3.14'."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def quantity(q: dict[str, Any] | None) -> str:
    if not q or "value" not in q:
        return ""
    unit = q.get("unit") or q.get("code") or ""
    return f"{number(q['value'])} {unit}".strip()


def observation_value(res: dict[str, Any]) -> str:
    """valueQuantity / valueCodeableConcept / valueString / ...; components as ``name value; ...``."""
    if "valueQuantity" in res:
        return quantity(res["valueQuantity"])
    if "valueCodeableConcept" in res:
        return concept(res["valueCodeableConcept"]).display
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in res:
            return str(res[key]).lower() if key == "valueBoolean" else str(res[key])
    parts = [f"{concept(c.get('code')).display} {observation_value(c)}".strip() for c in res.get("component", [])]
    return "; ".join(p for p in parts if p)


# Goal texts are data: never evaluated as code (ast.literal_eval crashed on "{[]}" with TypeError, on
# deep nesting with RecursionError, on a huge text with MemoryError). A Python dict repr is rewritten
# token by token into JSON, within these bounds, and anything else is kept as text.
_MAX_GOAL_CHARS = 4000
_MAX_GOAL_DEPTH = 8
_REPR_TOKEN = re.compile(r"""\s+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|True|False|None|[{}\[\]:,]""")
_REPR_WORDS = {"True": "true", "False": "false", "None": "null"}


def _python_repr_to_json(text: str) -> Any:
    """A dict written as Python repr (single quotes, True/None) -> the same value via JSON; None if not one."""
    out, depth, pos = [], 0, 0
    while pos < len(text):
        match = _REPR_TOKEN.match(text, pos)
        if match is None:
            return None
        token, pos = match.group(), match.end()
        if token in "{[":
            depth += 1
            if depth > _MAX_GOAL_DEPTH:
                return None
        elif token in "}]":
            depth -= 1
        if token[0] == "'":  # 'it\'s "x"' -> "it's \"x\"" (other escapes then go through JSON's rules)
            body = token[1:-1].replace("\\'", "'").replace('\\"', '"')
            token = '"' + body.replace('"', '\\"') + '"'
        out.append(_REPR_WORDS.get(token, token))
    try:
        return json.loads("".join(out))
    except ValueError:
        return None


def goal_text(text: str) -> str:
    """Synthea writes Goal.description.text as a Python dict repr; turn that into ``Hemoglobin A1c < 7``.

    The text is parsed as JSON or as a bounded dict repr, never evaluated; whatever does not parse into
    ``{'observation': {...}}`` is returned as text (its first 120 characters).
    """
    data = _python_repr_to_json(text) if text.startswith("{") and len(text) <= _MAX_GOAL_CHARS else None
    obs = data.get("observation") if isinstance(data, dict) else None
    if not isinstance(obs, dict):
        return text[:120]
    codes = obs.get("codes")
    name = next((str(c.get("display", "")) for c in codes if isinstance(c, dict)), "") if isinstance(codes, list) else ""
    return " ".join(str(p) for p in (name, obs.get("operator", ""), obs.get("value", "")) if p != "")


def day(value: str | None) -> str:
    return (value or "")[:10]


def status_of(res: dict[str, Any]) -> str:
    for key in ("clinicalStatus", "status", "lifecycleStatus"):
        value = res.get(key)
        if isinstance(value, dict):
            return concept(value).code.split(" ")[-1] or concept(value).display
        if isinstance(value, str):
            return value
    return ""


def listing(label: str, items: Iterable[str]) -> str:
    items = [i for i in dict.fromkeys(items) if i]
    if not items:
        return ""
    more = f" (+{len(items) - MAX_LIST_ITEMS} more)" if len(items) > MAX_LIST_ITEMS else ""
    return f"{label} {'; '.join(items[:MAX_LIST_ITEMS])}{more}"


def _first_date(res: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = res.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if isinstance(value, str) and value:
            return value
    return ""


def _refs(res: dict[str, Any], key: str) -> list[str]:
    return [ref_id(r["reference"]) for r in res.get(key, []) if isinstance(r, dict) and r.get("reference")]


def _main_concept(res: dict[str, Any]) -> Concept:
    kind = res["resourceType"]
    if kind in ("MedicationRequest", "MedicationAdministration"):
        if "medicationCodeableConcept" in res:
            return concept(res["medicationCodeableConcept"])
        return Concept("", (res.get("medicationReference") or {}).get("display", ""))
    if kind == "Immunization":
        return concept(res.get("vaccineCode"))
    if kind == "Encounter":
        return concept((res.get("type") or [None])[0])
    if kind == "ImagingStudy":
        return concept((res.get("procedureCode") or [None])[0])
    if kind == "SupplyDelivery":
        return concept((res.get("suppliedItem") or {}).get("itemCodeableConcept"))
    if kind == "CarePlan":  # the first category with a display (Synthea: [assess-plan, <the plan>])
        cats = [concept(c) for c in res.get("category", [])]
        return next((c for c in cats if c.display), Concept("", ""))
    if kind == "Goal":
        return Concept("", goal_text((res.get("description") or {}).get("text", "")))
    if kind in ("Device", "DocumentReference") and res.get("type"):
        return concept(res["type"])
    return concept(res.get("code"))


DATE_FIELDS = {  # type -> (label shown in the text, candidate fields in order)
    "Patient": ("born", ("birthDate",)),
    "Encounter": ("", ("period",)),
    "Condition": ("onset", ("onsetDateTime", "onsetPeriod", "recordedDate")),
    "AllergyIntolerance": ("onset", ("onsetDateTime", "recordedDate")),
    "MedicationRequest": ("authored", ("authoredOn",)),
    "MedicationAdministration": ("", ("effectiveDateTime", "effectivePeriod")),
    "Procedure": ("performed", ("performedDateTime", "performedPeriod")),
    "Immunization": ("", ("occurrenceDateTime",)),
    "ImagingStudy": ("", ("started",)),
    "SupplyDelivery": ("", ("occurrenceDateTime",)),
    "Goal": ("start", ("startDate",)),
    "Device": ("manufactured", ("manufactureDate",)),
}


def _details(res: dict[str, Any], displays: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """(value, extra text parts, reason ids) for one resource."""
    kind = res["resourceType"]
    reasons = _refs(res, "reasonReference")
    extras = [listing("reason", [displays.get(r, "") for r in reasons] + [concept(c).display for c in res.get("reasonCode", [])])]
    value = ""
    if kind == "Patient":
        value = res.get("gender", "")
        if res.get("deceasedDateTime"):
            extras.append(f"deceased {day(res['deceasedDateTime'])}")
    elif kind == "Observation" or kind == "DiagnosticReport":
        value = observation_value(res) if kind == "Observation" else ""
        extras.append(listing("results", [displays.get(r, "") for r in _refs(res, "result")]))
    elif kind == "Condition" and res.get("abatementDateTime"):
        extras.append(f"resolved {day(res['abatementDateTime'])}")
    elif kind == "Encounter":
        extras.insert(0, concept(res.get("class")).display)
    elif kind == "AllergyIntolerance":
        extras.insert(0, " ".join(filter(None, [res.get("criticality", ""), res.get("type", "")])))
    elif kind == "CarePlan":
        acts = [concept((a.get("detail") or {}).get("code")).display for a in res.get("activity", [])]
        extras += [listing("activities", acts), listing("addresses", [displays.get(r, "") for r in _refs(res, "addresses")])]
    elif kind == "ImagingStudy":
        extras.append(listing("modality", [concept(s.get("modality")).display for s in res.get("series", [])]))
    elif kind == "SupplyDelivery":
        value = quantity((res.get("suppliedItem") or {}).get("quantity"))
    return value, [e for e in extras if e], reasons


def flatten_resource(res: dict[str, Any], displays: dict[str, str], patient_id: str, split: str) -> Resource:
    """One raw resource -> Resource; ``displays`` maps resource ids of the same patient to display text."""
    kind = res["resourceType"]
    main = _main_concept(res)
    label, fields = DATE_FIELDS.get(kind, ("", ("effectiveDateTime", "effectivePeriod", "period", "date", "issued")))
    date = _first_date(res, *fields)
    value, extras, reasons = _details(res, displays)
    status = "" if kind == "Patient" else status_of(res)
    dated = f"{label} {day(date)}".strip() if date else ""
    parts = [kind, main.label(), dated, value, *extras, status]
    return Resource(id=res["id"], type=kind, patient_id=patient_id, split=split,
                    text=" | ".join(p for p in parts if p), code=main.code, display=main.display,
                    date=date, value=value, status=status, reason_ids=reasons)


def flatten_record(resources: Iterable[dict[str, Any]], patient_id: str, split: str,
                   keep_types: Iterable[str]) -> list[Resource]:
    """Flatten the resources of one patient whose type is in ``keep_types`` (bundle order kept)."""
    resources = list(resources)
    displays = {r["id"]: _main_concept(r).display for r in resources}
    keep = set(keep_types)
    return [flatten_resource(r, displays, patient_id, split) for r in resources if r["resourceType"] in keep]
