"""Questions about one patient's record whose gold resources and answers are computed, never generated.

Templates (``Question.template``):
  medications_for_condition  "What medications is the patient taking for <condition>?" -- gold: the
      MedicationRequests whose reasonReference cites a Condition with that code, plus the cited Conditions;
      answer: each medication with its latest authored date and status.
  last_observation  "When was the last <observation> recorded and what was its value?" -- gold: every
      Observation with that code (all are needed to know which is last); answer from the latest one.
      Codes whose latest date holds two different values are skipped (no single right answer).
  had_procedure  "Has the patient had <procedure>?" -- gold: every Procedure with that code; answer
      "Yes, N times, most recently on D". ``absent_procedures`` adds "No" questions about procedures
      seen in other patients of the same split but not this one (gold: none).
Dates in answers are days (YYYY-MM-DD). Sampling of which codes get a question is seeded.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterable

from clinsynth.fhir.flatten import Resource, day

TEMPLATES = ("medications_for_condition", "last_observation", "had_procedure")


@dataclasses.dataclass(frozen=True)
class Question:
    id: str  # "<patient_id>:<template>:<code>"
    patient_id: str
    split: str
    template: str
    question: str
    resource_ids: list[str]  # gold relevant resources, bundle order
    answer: str


@dataclasses.dataclass(frozen=True)
class TemplateConfig:
    per_template: int = 4  # at most this many questions per template and patient
    absent_procedures: int = 1  # "No" questions per patient


def _by_code(resources: Iterable[Resource], kind: str) -> dict[str, list[Resource]]:
    groups: dict[str, list[Resource]] = defaultdict(list)
    for r in resources:
        if r.type == kind and r.code:
            groups[r.code].append(r)
    return groups


def _latest(resources: list[Resource]) -> Resource:
    return max(resources, key=lambda r: (r.date, r.id))


def medication_questions(resources: list[Resource]) -> list[Question]:
    conditions = _by_code(resources, "Condition")
    requests = [r for r in resources if r.type == "MedicationRequest"]
    out = []
    for code, conds in sorted(conditions.items()):
        cond_ids = {c.id for c in conds}
        meds = [m for m in requests if cond_ids & set(m.reason_ids)]
        if not meds:
            continue
        cited = {i for m in meds for i in m.reason_ids} & cond_ids
        by_drug: dict[str, list[Resource]] = defaultdict(list)
        for m in meds:
            by_drug[m.display or m.code].append(m)
        items = sorted((_latest(ms) for ms in by_drug.values()), key=lambda m: (m.date, m.display), reverse=True)
        listed = "; ".join(f"{m.display} (last prescribed {day(m.date)}, {m.status})" for m in items)
        name = conds[0].display
        keep = cited | {m.id for m in meds}
        gold = [r.id for r in resources if r.id in keep]
        out.append(_question(conds[0], "medications_for_condition", code,
                             f"What medications is the patient taking for {name}?", gold,
                             f"For {name} the patient was prescribed: {listed}."))
    return out


def observation_questions(resources: list[Resource]) -> list[Question]:
    out = []
    for code, obs in sorted(_by_code(resources, "Observation").items()):
        valued = [o for o in obs if o.value]
        if not valued:
            continue
        last = _latest(valued)
        if len({o.value for o in valued if day(o.date) == day(last.date)}) > 1:
            continue
        out.append(_question(last, "last_observation", code,
                             f"When was the last {last.display} recorded and what was its value?",
                             [o.id for o in obs],
                             f"The last {last.display} was recorded on {day(last.date)} with a value of {last.value}."))
    return out


def procedure_questions(resources: list[Resource]) -> list[Question]:
    out = []
    for code, procs in sorted(_by_code(resources, "Procedure").items()):
        last = _latest(procs)
        times = "once" if len(procs) == 1 else f"{len(procs)} times"
        out.append(_question(last, "had_procedure", code, f"Has the patient had {last.display}?",
                             [p.id for p in procs],
                             f"Yes, {last.display} was performed {times}, most recently on {day(last.date)}."))
    return out


def absent_procedure_questions(patient_id: str, split: str, own: set[str],
                               vocabulary: dict[str, str], n: int, rng: random.Random) -> list[Question]:
    """"No" questions about procedure codes in ``vocabulary`` (code -> display) this patient never had."""
    candidates = sorted(set(vocabulary) - own)
    return [Question(f"{patient_id}:had_procedure:{code}:absent", patient_id, split, "had_procedure",
                     f"Has the patient had {vocabulary[code]}?", [],
                     f"No, there is no record of {vocabulary[code]}.")
            for code in rng.sample(candidates, min(n, len(candidates)))]


def _question(anchor: Resource, template: str, code: str, text: str, gold: list[str], answer: str) -> Question:
    return Question(f"{anchor.patient_id}:{template}:{code}", anchor.patient_id, anchor.split, template, text, gold, answer)


def generate_questions(patients: dict[str, list[Resource]], cfg: TemplateConfig, seed: int) -> list[Question]:
    """Templated questions for each patient (patient id -> its resources); seeded choice of codes."""
    vocabulary = {r.code: r.display for rs in patients.values() for r in rs if r.type == "Procedure" and r.code}
    out: list[Question] = []
    for patient_id in sorted(patients):
        resources = patients[patient_id]
        rng = random.Random(f"{seed}:{patient_id}")
        for make in (medication_questions, observation_questions, procedure_questions):
            found = make(resources)
            out += sorted(rng.sample(found, min(cfg.per_template, len(found))), key=lambda q: q.id)
        if resources:
            own = {r.code for r in resources if r.type == "Procedure"}
            out += absent_procedure_questions(patient_id, resources[0].split, own, vocabulary, cfg.absent_procedures, rng)
    return out
