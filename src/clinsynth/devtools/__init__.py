"""Checks on the project itself (not used by any stage): e.g. the import closure a DVC stage must depend on."""
