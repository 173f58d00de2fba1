"""The corpora the rephrase LMs pretrain on (stage split_rephrase_corpora): its settings and per-corpus counts.

Corpus names and how they are built: :mod:`clinsynth.recipes.rephrase_corpora` and docs/rephrase.md.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.recipes.rephrase_corpora import CorpusText, group_synthetic


@dataclasses.dataclass(frozen=True)
class SplitRephraseCorporaConfig:
    records: str  # postprocess@rephrase output (kept records); a fixture until that stage exists
    out_dir: str
    corpora: list[str]  # corpus names: real | <template> | <model>__<template> | real+<template> | none


def corpora_metrics(records: Sequence[Mapping[str, Any]], corpora: Mapping[str, Sequence[CorpusText]]) -> dict[str, Any]:
    """Kept records, the synthetic sources no corpus uses, and each corpus' texts, characters and texts by source."""
    unused = sorted(set(group_synthetic(records)) - {t.source for texts in corpora.values() for t in texts})
    return {"records": len(records), "unused_sources": unused,
            "corpora": {name: {"texts": len(texts), "chars": sum(len(t.text) for t in texts),
                               "by_source": dict(sorted(Counter(t.source for t in texts).items()))}
                        for name, texts in corpora.items()}}
