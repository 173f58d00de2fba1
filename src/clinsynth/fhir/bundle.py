"""Read FHIR R4 transaction bundles (one per patient) and validate their resources.

Each entry's resource is validated on its own against the ``fhir.resources`` R4B model of its type
(R4B is R4 plus errata; Synthea's R4 exports validate unchanged), so an error names the entry:
``FhirFormatError("Pedro_1.json: entry 17 (Condition/abc): code.coding: Input should be a valid list")``.
Full validation of the 20-patient demo (~40k resources) takes ~10 s on one core; ``validate_types``
restricts it to the listed types when that is too slow for a larger export.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from clinsynth.errors import InputError


class FhirFormatError(InputError):
    """A bundle that cannot be used: the message names the file, the entry and what was wrong."""


@dataclasses.dataclass(frozen=True)
class PatientRecord:
    patient_id: str  # the Patient resource id (= meta.patient_id of the notes)
    source: str  # bundle file name
    resources: tuple[dict[str, Any], ...]  # raw resource dicts, bundle order


def _model_class(resource_type: str):
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def _pydantic_summary(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors()[:3]]
    more = len(errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def validate_resource(resource: dict[str, Any], where: str) -> None:
    """Validate one resource dict with its R4B model; raise FhirFormatError naming ``where``."""
    kind = resource.get("resourceType")
    try:
        cls = _model_class(kind)
    except (ValueError, KeyError, AttributeError) as exc:
        raise FhirFormatError(f"{where}: unknown resourceType {kind!r}; expected a FHIR R4 resource type") from exc
    try:
        cls.model_validate(resource)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise FhirFormatError(f"{where}: {_pydantic_summary(exc)}") from exc


def parse_bundle(data: Any, name: str, validate_types: Collection[str] | None = None) -> PatientRecord:
    """A decoded bundle -> PatientRecord. ``validate_types``: None validates every resource, else only those types."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise FhirFormatError(f"{name}: expected a FHIR Bundle, found {found!r}")
    resources, seen = [], set()
    for i, entry in enumerate(data.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirFormatError(f"{name}: entry {i}: no resource with a resourceType; expected entry.resource")
        key = f"{resource['resourceType']}/{resource.get('id')}"
        where = f"{name}: entry {i} ({key})"
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise FhirFormatError(f"{where}: resource has no id; every resource needs one to be cited")
        if resource["id"] in seen:
            raise FhirFormatError(f"{where}: duplicate resource id {resource['id']!r} in this bundle")
        seen.add(resource["id"])
        if validate_types is None or resource["resourceType"] in validate_types:
            validate_resource(resource, where)
        resources.append(resource)
    patients = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise FhirFormatError(f"{name}: expected exactly one Patient resource per bundle, found {len(patients)}")
    return PatientRecord(patients[0], name, tuple(resources))


def read_bundle(path: Path | str, validate_types: Collection[str] | None = None) -> PatientRecord:
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FhirFormatError(f"{path.name}: line {line}, byte {exc.start}: 0x{raw[exc.start]:02x} is not UTF-8 "
                              f"({exc.reason}); FHIR JSON is UTF-8: convert the file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FhirFormatError(f"{path.name}: line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    try:  # valid JSON can hold half a UTF-16 pair ("\\ud800") that no UTF-8 output can: refuse it here, not mid-write
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        lone = _LONE_SURROGATE.search(text)
        where = f"line {text.count(chr(10), 0, lone.start()) + 1}: {lone.group()}" if lone else "a string"
        raise FhirFormatError(f"{path.name}: {where} is half of a UTF-16 surrogate pair (a lone surrogate); "
                              "fix the escape") from None
    return parse_bundle(data, path.name, validate_types)


# a \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or a low one without a high one before it
_LONE_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def bundle_files(folder: Path | str) -> list[Path]:
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise FhirFormatError(f"{folder}: no *.json bundles found; expected one FHIR Bundle per patient")
    return files
