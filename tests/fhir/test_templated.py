import dataclasses

from clinsynth.fhir.relevance import PairConfig, make_pairs
from clinsynth.fhir.templated import TemplateConfig, generate_questions

ALL = TemplateConfig(per_template=10, absent_procedures=0)


def _by_id(questions):
    return {q.id: q for q in questions}


def test_answers_checked_by_hand(resources):
    qs = _by_id(generate_questions({"p1": resources}, ALL, seed=13))
    assert sorted(qs) == sorted([
        "p1:medications_for_condition:SNOMED 10509002", "p1:medications_for_condition:SNOMED 59621000",
        "p1:last_observation:LOINC 29463-7", "p1:last_observation:LOINC 85354-9",
        "p1:last_observation:LOINC 72166-2", "p1:last_observation:LOINC 2093-3",
        "p1:had_procedure:SNOMED 430193006", "p1:had_procedure:SNOMED 127783003"])

    htn = qs["p1:medications_for_condition:SNOMED 59621000"]
    assert htn.question == "What medications is the patient taking for Essential hypertension?"
    assert htn.answer == ("For Essential hypertension the patient was prescribed: lisinopril 10 MG Oral Tablet "
                          "(last prescribed 2021-06-10, active); Hydrochlorothiazide 25 MG Oral Tablet "
                          "(last prescribed 2019-03-04, stopped).")
    assert htn.resource_ids == ["c1", "m1", "m2", "m3"]  # the administration ma1 is not a request

    bronchitis = qs["p1:medications_for_condition:SNOMED 10509002"]
    assert bronchitis.resource_ids == ["c2", "m4"]
    assert bronchitis.answer == ("For Acute bronchitis the patient was prescribed: Acetaminophen 325 MG Oral Tablet "
                                 "(last prescribed 2021-06-10, stopped).")

    weight = qs["p1:last_observation:LOINC 29463-7"]
    assert weight.question == "When was the last Body Weight recorded and what was its value?"
    assert weight.answer == "The last Body Weight was recorded on 2021-06-10 with a value of 78 kg."
    assert weight.resource_ids == ["o1", "o2"]
    assert qs["p1:last_observation:LOINC 85354-9"].answer.endswith(
        "with a value of Systolic blood pressure 132 mm[Hg]; Diastolic blood pressure 84.25 mm[Hg].")
    assert qs["p1:last_observation:LOINC 72166-2"].answer.endswith("with a value of Never smoked tobacco.")

    recon = qs["p1:had_procedure:SNOMED 430193006"]
    assert recon.question == "Has the patient had Medication reconciliation?"
    assert recon.answer == "Yes, Medication reconciliation was performed 2 times, most recently on 2021-06-10."
    assert recon.resource_ids == ["pr1", "pr2"]
    assert qs["p1:had_procedure:SNOMED 127783003"].answer == \
        "Yes, Spirometry was performed once, most recently on 2021-06-10."
    assert all(q.split == "test" and q.patient_id == "p1" for q in qs.values())


def _other_patient(resources):
    procs = [r for r in resources if r.type in ("Patient", "Procedure")]
    out = []
    for r in procs:
        extra = {"code": "SNOMED 80146002", "display": "Appendectomy", "text": "Procedure | Appendectomy"} \
            if r.type == "Procedure" else {}
        out.append(dataclasses.replace(r, id=f"q-{r.id}", patient_id="p2", **extra))
    return out




def test_absent_procedure_question(resources):
    patients = {"p1": resources, "p2": _other_patient(resources)}
    qs = _by_id(generate_questions(patients, TemplateConfig(per_template=10, absent_procedures=1), seed=13))
    absent = qs["p1:had_procedure:SNOMED 80146002:absent"]
    assert absent.question == "Has the patient had Appendectomy?"
    assert absent.answer == "No, there is no record of Appendectomy."
    assert absent.resource_ids == []
    p2_absent = [q for q in qs.values() if q.patient_id == "p2" and q.id.endswith(":absent")]
    assert len(p2_absent) == 1 and p2_absent[0].question in (
        "Has the patient had Medication reconciliation?", "Has the patient had Spirometry?")


def test_observation_with_conflicting_values_on_last_day_is_skipped(resources):
    twin = next(r for r in resources if r.id == "o2")
    conflicting = resources + [dataclasses.replace(twin, id="o2b", value="79 kg")]
    qs = _by_id(generate_questions({"p1": conflicting}, ALL, seed=13))
    assert "p1:last_observation:LOINC 29463-7" not in qs


def test_sampling_is_seeded_and_capped(resources):
    cfg = TemplateConfig(per_template=1, absent_procedures=0)
    a = generate_questions({"p1": resources}, cfg, seed=1)
    assert a == generate_questions({"p1": resources}, cfg, seed=1)
    assert len(a) == 3 and {q.template for q in a} == {"medications_for_condition", "last_observation", "had_procedure"}


def test_pairs_exclude_same_code_and_take_hard_negatives(resources):
    qs = _by_id(generate_questions({"p1": resources}, ALL, seed=13))
    weight = qs["p1:last_observation:LOINC 29463-7"]
    pairs = make_pairs([weight], {"p1": resources}, PairConfig(max_positives=8, negatives_per_positive=3,
                                                              hard_fraction=0.5), seed=13)
    by_type = {r.id: r.type for r in resources}
    positives = [p.resource_id for p in pairs if p.label]
    negatives = [p.resource_id for p in pairs if not p.label]
    assert positives == ["o1", "o2"]
    assert len(negatives) == 6 and not {"o1", "o2"} & set(negatives)
    assert sorted(n for n in negatives if by_type[n] == "Observation") == ["o3", "o4", "o5"]  # the 3 hard ones
    assert all(p.question == weight.question for p in pairs)
    assert pairs == make_pairs([weight], {"p1": resources}, PairConfig(), seed=13)


def test_pairs_cap_positives_and_no_gold_question(resources):
    qs = _by_id(generate_questions({"p1": resources}, ALL, seed=13))
    htn = qs["p1:medications_for_condition:SNOMED 59621000"]
    pairs = make_pairs([htn], {"p1": resources}, PairConfig(max_positives=2, negatives_per_positive=1), seed=5)
    assert sum(p.label for p in pairs) == 2 and len(pairs) == 4
    patients = {"p1": resources, "p2": _other_patient(resources)}
    absent = _by_id(generate_questions(patients, TemplateConfig(absent_procedures=1), 13))["p1:had_procedure:SNOMED 80146002:absent"]
    pairs = make_pairs([absent], patients, PairConfig(negatives_per_positive=4, hard_fraction=0.5), seed=5)
    assert [p.label for p in pairs] == [0, 0, 0, 0]
    assert sum(1 for p in pairs if p.text.startswith("Procedure")) == 2
