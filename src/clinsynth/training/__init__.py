"""Downstream training loops shared by the recipes (CPU-first, deterministic)."""
