"""Which params values change with ``base.profile``: what a stage must tell DVC (list ``base.profile``).

A value written ``{demo: X, full: Y}`` (keys a subset of :data:`clinsynth.params.PROFILES`) takes the
entry for ``base.profile``; a profile the mapping does not name takes :data:`FALLBACK` (``demo``), so a
new profile only needs entries where it differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clinsynth.params import FALLBACK, PROFILES


def is_profile_mapping(value: Any, profiles: Sequence[str] = PROFILES) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= set(profiles)


def effective(value: Any, profile: str, profiles: Sequence[str] = PROFILES) -> Any:
    """``value`` as ``profile`` sees it: every per-profile mapping inside replaced by its entry."""
    if is_profile_mapping(value, profiles):
        return effective(value[profile] if profile in value else value[FALLBACK], profile, profiles)
    if isinstance(value, dict):
        return {k: effective(v, profile, profiles) for k, v in value.items()}
    if isinstance(value, list):
        return [effective(v, profile, profiles) for v in value]
    return value


def varies_by_profile(value: Any, profiles: Sequence[str] = PROFILES) -> bool:
    """True if two of ``profiles`` see different values (``{demo: 1, full: 1}`` does not vary)."""
    seen = {json.dumps(effective(value, p, profiles), sort_keys=True, default=str) for p in profiles}
    return len(seen) > 1
