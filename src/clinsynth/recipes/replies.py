"""What every recipe's reply parser rejects first: empty replies and refusals."""

from __future__ import annotations

import re

from clinsynth.records import Rejection

REFUSAL = re.compile(
    r"^\s*(i\s*(?:'m| am)\s+(?:sorry|unable|not able)|i\s+can(?:no|')t\b|i\s+cannot\b|as an ai\b|"
    r"sorry,? (?:but )?i\b|i\s+won't\b)",
    re.IGNORECASE,
)


def screen_reply(text: str, prompt_id: str) -> str | Rejection:
    """The reply stripped, or a Rejection: ``empty`` (nothing but whitespace) or ``refusal`` (starts like one)."""
    cleaned = text.strip()
    if not cleaned:
        return Rejection(prompt_id, "empty", "the reply is empty or whitespace")
    if REFUSAL.match(cleaned):
        return Rejection(prompt_id, "refusal", f"reply starts like a refusal: {cleaned[:80]!r}")
    return cleaned
