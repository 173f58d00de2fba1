"""FHIR QA: patient FHIR records -> flattened resources -> (question, relevant resources, answer).

Modules: ``bundle`` (read + validate R4 bundles), ``flatten`` (one compact text line per resource),
``ingest`` (bundles folder -> resources with patient splits + report),
``templated`` (questions with answers computed from the record), ``relevance`` (pairs, lexical
baseline, P/R/F1), ``relevance_lm`` (relevance as yes/no generation, P(yes) from a causal LM: the sequential
training mode), ``synthetic`` (the gated fhir_qa corpus read, training pairs from LLM-written and templated
questions), ``answers`` (answer generation through any engine Backend, scored with METEOR and ROUGE-L),
``training`` (the three trainings and the shared ``fhir`` params section), ``evaluation`` (evaluate_fhir_qa).
Prompts are clinsynth.prompting templates named by version (``fhir_qa.answer.v1``, ``fhir_qa.relevance.v1``).
"""
