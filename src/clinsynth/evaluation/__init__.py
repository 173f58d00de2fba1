"""Metrics as evaluate.Metric modules (loadable offline by path) and task evaluators."""
