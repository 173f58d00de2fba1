"""The generation engine shared by every recipe (backends, cache, resume)."""
