"""Quality and privacy gates for synthetic corpora (leakage, duplicates, diversity)."""
