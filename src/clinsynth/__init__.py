"""clinsynth: synthetic clinical corpora from private notes, a medical KG and a small local LLM."""

__version__ = "0.1.0"
