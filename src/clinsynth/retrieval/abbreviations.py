"""A small curated table of clinical abbreviations, used only to phrase *evaluation* queries.

Keys are entity names as written in the Synthea record (SNOMED display without its semantic tag,
or a drug ingredient), values the abbreviation a clinician would type. Entries were chosen for
being standard and unambiguous in context (HTN, T2DM, CKD, PHQ-9, CXR ...), covering the
conditions, drug ingredients and procedures of the demo patients plus the usual chronic diseases.

The table is deliberately *not* used to build training pairs: abbreviation scores then measure
what the encoder learned from the KG (whose synonyms hold some acronyms) and from pre-training,
not recall of this list. Abbreviations found among a node's KG synonyms (``looks_like_acronym``)
are added to the table's at query-building time.
"""

from __future__ import annotations

import re

from clinsynth.retrieval.matcher import BOUNDARY, tokenize

_TABLE: dict[str, str] = {
    # conditions
    "essential hypertension": "HTN",
    "hypertension": "HTN",
    "diabetes mellitus type 2": "T2DM",
    "type 2 diabetes mellitus": "T2DM",
    "hyperlipidemia": "HLD",
    "hypertriglyceridemia": "HTG",
    "myocardial infarction": "MI",
    "acute st segment elevation myocardial infarction": "STEMI",
    "ischemic heart disease": "IHD",
    "coronary artery disease": "CAD",
    "congestive heart failure": "CHF",
    "atrial fibrillation": "AFib",
    "aortic valve stenosis": "AS",
    "chronic kidney disease": "CKD",
    "chronic kidney disease stage 1": "CKD stage 1",
    "chronic kidney disease stage 2": "CKD stage 2",
    "chronic kidney disease stage 3": "CKD stage 3",
    "disorder of kidney due to diabetes mellitus": "DKD",
    "end stage renal disease": "ESRD",
    "chronic obstructive pulmonary disease": "COPD",
    "obstructive sleep apnea syndrome": "OSA",
    "urinary tract infection": "UTI",
    "upper respiratory infection": "URI",
    "otitis media": "OM",
    "acute otitis media": "AOM",
    "streptococcal sore throat": "strep throat",
    "pneumonia": "PNA",
    "disease caused by severe acute respiratory syndrome coronavirus 2": "COVID-19",
    "major depressive disorder": "MDD",
    "generalized anxiety disorder": "GAD",
    "post traumatic stress disorder": "PTSD",
    "attention deficit hyperactivity disorder": "ADHD",
    "bipolar disorder": "BPAD",
    "gastroesophageal reflux disease": "GERD",
    "metabolic syndrome x": "MetS",
    "osteoarthritis of hip": "hip OA",
    "osteoarthritis of knee": "knee OA",
    "rheumatoid arthritis": "RA",
    "chronic low back pain": "CLBP",
    "low back pain": "LBP",
    "injury of anterior cruciate ligament": "ACL injury",
    "concussion injury of brain": "mTBI",
    "traumatic injury of spinal cord and or vertebral column": "SCI",
    "malignant neoplasm of colon": "colon CA",
    "closed fracture of hip": "hip fx",
    "fracture of ankle": "ankle fx",
    "fracture of rib": "rib fx",
    "fracture of clavicle": "clavicle fx",
    "fracture of forearm": "forearm fx",
    "fracture of mandible": "mandible fx",
    "fracture of bone": "fx",
    "body mass index 30 obesity": "BMI 30+",
    "body mass index 40 severely obese": "BMI 40+",
    # drug ingredients
    "acetaminophen": "APAP",
    "aspirin": "ASA",
    "hydrochlorothiazide": "HCTZ",
    "methotrexate": "MTX",
    "penicillin v potassium": "PCN VK",
    "penicillin g": "PCN G",
    "nitroglycerin": "NTG",
    "vitamin b12": "B12",
    "ethinyl estradiol": "EE",
    "levothyroxine": "LT4",
    "morphine": "MSO4",
    "potassium chloride": "KCl",
    # procedures
    "depression screening using patient health questionnaire nine item score": "PHQ-9",
    "assessment using alcohol use disorders identification test consumption": "AUDIT-C",
    "assessment using car relax alone forget friends trouble screening test": "CRAFFT",
    "plain x ray of chest": "CXR",
    "transthoracic echocardiography": "TTE",
    "echocardiography": "echo",
    "electrocardiographic procedure": "ECG",
    "coronary artery bypass grafting": "CABG",
    "percutaneous coronary intervention": "PCI",
    "medication reconciliation": "med rec",
    "review of systems": "ROS",
    "history and physical examination": "H&P",
    "measurement of respiratory function": "PFT",
    "transfusion of packed red blood cells": "PRBC transfusion",
    "intravenous blood transfusion of packed cells": "PRBC transfusion",
    "insertion of intrauterine contraceptive device": "IUD insertion",
    "removal of intrauterine contraceptive device": "IUD removal",
    "replacement of contraceptive intrauterine device": "IUD replacement",
    "screening for occult blood in feces": "FOBT",
    "skin test for tuberculosis tine test": "PPD",
    "hepatitis b surface antigen measurement": "HBsAg",
    "hepatitis c antibody confirmatory test": "HCV Ab",
    "human immunodeficiency virus antigen test": "HIV antigen test",
    "direct current cardioversion": "DCCV",
    "removal of endotracheal tube": "ETT removal",
    "urinalysis protein qualitative": "UA protein",
    "range of motion testing": "ROM testing",
    "physical therapy procedure": "PT",
    "occupational therapy": "OT",
    "bone density scan": "DEXA",
    "intraocular pressure test": "IOP test",
    "dental plain x ray bitewing": "BWX",
    "plain x ray of knee region": "knee XR",
    "plain x ray of ankle region": "ankle XR",
    "plain x ray of wrist region": "wrist XR",
    "plain x ray of clavicle": "clavicle XR",
}

ACRONYM = re.compile(r"^[A-Z][A-Za-z0-9]*[A-Z0-9](?:-[0-9A-Z]+)?$")


def name_key(text: str) -> str:
    """The key a name is looked up by: its word tokens (no phrase boundaries) joined by spaces."""
    return " ".join(t for t in tokenize(text) if t != BOUNDARY)


ABBREVIATIONS: dict[str, str] = {name_key(name): abbr for name, abbr in _TABLE.items()}


def looks_like_acronym(text: str) -> bool:
    """2-8 characters, upper case first and last (``HTN``, ``PHQ-9``, ``AFib``); lower-case words are not."""
    return 2 <= len(text) <= 8 and bool(ACRONYM.match(text)) and sum(c.isupper() for c in text) >= 2
