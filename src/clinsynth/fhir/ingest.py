"""Bundles folder -> flattened resources of every patient with its split, plus a validation report."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from clinsynth.corpus import SPLITS, assign_splits
from clinsynth.fhir.bundle import FhirFormatError, PatientRecord, bundle_files, read_bundle
from clinsynth.fhir.flatten import Resource, flatten_record


@dataclasses.dataclass(frozen=True)
class IngestResult:
    resources: list[Resource]  # sorted by (patient_id, bundle order)
    metrics: dict[str, Any]


def read_records(folder: Path | str, validate: Literal["all", "kept", "none"], keep_types: Sequence[str],
                 progress: bool = True) -> list[PatientRecord]:
    """Every bundle of ``folder`` (sorted by name), validated per ``validate``; one Patient per bundle."""
    types = None if validate == "all" else (set(keep_types) if validate == "kept" else set())
    records = [read_bundle(f, types) for f in tqdm(bundle_files(folder), desc="fhir bundles", unit="bundle",
                                                      disable=not progress)]
    seen: dict[str, str] = {}
    for rec in records:
        if rec.patient_id in seen:
            raise FhirFormatError(f"{rec.source}: patient {rec.patient_id} also in {seen[rec.patient_id]}; one bundle per patient")
        seen[rec.patient_id] = rec.source
    return records


_SUBJECT_KEYS = ("subject", "patient", "beneficiary")


def _references(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(field name, reference string) of every ``{"reference": ...}`` in a resource, iteratively."""
    stack = [(key, node)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                yield key, ref
            stack.extend(node.items())
        elif isinstance(node, list):
            stack.extend((key, item) for item in node)


def reference_issues(record: PatientRecord) -> Counter:
    """Count references that point nowhere in the bundle, and subjects that are another patient.

    A ``subject``/``patient``/``beneficiary`` reference must be the bundle's Patient (else
    ``foreign_subject``); any other ``urn:uuid:X`` or ``Type/X`` must name a resource id of the same
    bundle (else ``dangling_references``).
    Conditional references (``Practitioner?identifier=...``, resolved by a FHIR server), contained
    (``#x``) and absolute URLs are left alone.
    """
    ids = {r["id"] for r in record.resources}
    issues: Counter = Counter()
    for resource in record.resources:
        for key, ref in _references({k: v for k, v in resource.items() if k != "contained"}):
            if "?" in ref or ref.startswith("#") or "://" in ref:
                continue
            target = ref.removeprefix("urn:uuid:").rsplit("/", 1)[-1]
            if key in _SUBJECT_KEYS and target != record.patient_id:
                issues["foreign_subject"] += 1
            elif target not in ids:
                issues["dangling_references"] += 1
    return issues


def ingest_records(records: Sequence[PatientRecord], keep_types: Sequence[str], fractions: dict[str, float],
                   seed: int, validate: str) -> IngestResult:
    """Flatten kept resources; split patients with ``assign_splits`` (same seed/fractions as the notes)."""
    splits = assign_splits([r.patient_id for r in records], fractions, seed)
    resources = [res for rec in sorted(records, key=lambda r: r.patient_id)
                 for res in flatten_record(rec.resources, rec.patient_id, splits[rec.patient_id], keep_types)]
    total = Counter(r["resourceType"] for rec in records for r in rec.resources)
    kept = Counter(r.type for r in resources)
    issues = sum((reference_issues(rec) for rec in records), Counter())
    metrics = {
        "bundles": len(records),
        "patients": len(splits),
        "resources_read": sum(total.values()),
        "resources_kept": len(resources),
        "validated": validate,
        "kept_by_type": dict(sorted(kept.items())),
        "dropped_by_type": dict(sorted((t, n) for t, n in total.items() if t not in kept)),
        # references to no resource of the bundle / subjects that are another patient: kept, but counted
        "dangling_references": issues["dangling_references"],
        "foreign_subject": issues["foreign_subject"],
        "splits": {s: {"patients": sum(1 for v in splits.values() if v == s),
                       "resources": sum(1 for r in resources if r.split == s)} for s in SPLITS},
    }
    return IngestResult(resources, metrics)


@dataclasses.dataclass(frozen=True)
class FhirIngestConfig:
    """``params.yaml: fhir_ingest``."""

    keep_types: list[str]  # resource types flattened and kept; the rest are counted and dropped
    validate: Literal["all", "kept", "none"]  # which resources are validated with fhir.resources (R4B)
    resources: str  # output JSONL
