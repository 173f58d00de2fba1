"""Pretraining corpora built from the gated rephrase corpus (docs/rephrase.md): real, synthetic and mixed
token budgets for the small LMs of the rephrase experiment."""
