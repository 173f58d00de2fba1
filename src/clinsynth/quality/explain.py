"""Why was a synthetic record dropped? A readable account from a ``dropped.jsonl`` row and its kept twin."""

from __future__ import annotations

import textwrap
from typing import Any


def excerpt(text: str, width: int = 300) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" ...")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def explain_dropped(dropped: dict[str, Any], kept: dict[str, Any] | None = None, width: int = 300) -> str:
    """Lines: id, recipe, prompt, reason and detail; for a duplicate, both Jaccards and both texts side by side."""
    where = "rejected at generate@" if dropped.get("stage") == "generate" else "dropped as "
    lines = [f"{dropped['id']} (recipe {dropped['recipe']}, prompt {dropped['prompt_id']}): "
             f"{where}{dropped['recipe'] + ' as ' if where.endswith('@') else ''}{dropped['reason']}",
             f"  {dropped['detail']}"]
    leak = dropped.get("leakage") or {}
    if leak:
        lines.append(f"  leakage: longest span {leak.get('train_longest_span')} tokens, overlap "
                     f"{_fmt(leak.get('train_overlap'))} vs train notes; vs its own source: "
                     f"{leak.get('source_longest_span')} tokens, overlap {_fmt(leak.get('source_overlap'))}")
    if dropped.get("checks"):
        lines.append("  checks: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(dropped["checks"].items())))
    if dropped.get("strips"):
        lines.append("  stripped before the checks: " + ", ".join(dropped["strips"]))
    fid = dropped.get("fidelity") or {}
    if fid.get("retained") is not None:
        lines.append(f"  fidelity: retained {len(fid['retained_concepts'])} of {len(fid['source_concepts'])} "
                     f"source concepts ({fid['retained']:.3f})")
    if fid.get("invented"):
        lines.append("  invented: " + ", ".join(fid["invented"]))
    if fid.get("changed_values"):
        lines.append("  changed values: " + ", ".join(fid["changed_values"]))
    if dropped.get("duplicate_of"):
        lines.append(f"  duplicates kept record {dropped['duplicate_of']}: Jaccard exact "
                     f"{dropped['jaccard_exact']:.3f}, MinHash estimate {dropped['jaccard_estimated']:.3f}")
        if kept is not None:
            lines.append(f"  kept    ({kept['id']}): {excerpt(kept['text'], width)}")
    if dropped.get("text"):
        lines.append(f"  dropped ({dropped['id']}): {excerpt(dropped['text'], width)}")
    return "\n".join(lines)
