"""FHIR QA: patient FHIR records -> flattened resources -> (question, relevant resources, answer).

Modules: ``bundle`` (read + validate R4 bundles), ``flatten`` (one compact text line per resource),
``ingest`` (bundles folder -> resources with patient splits + report),
``templated`` (questions with answers computed from the record), ``relevance`` (pairs, lexical
baseline, P/R/F1), ``question_prompt`` (LLM question writer: prompt + reply parser), ``answers``
(answer generation through any engine Backend, scored with METEOR and ROUGE-L).
"""
