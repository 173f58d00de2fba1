"""The pipeline report: one self-contained HTML page from the metrics files and synthetic corpora.

``load_inputs(cfg, ...)`` reads what ``params.yaml: report`` lists (see :mod:`clinsynth.report.inputs`);
``render_report(inputs)`` is pure and returns the page. The stage ``report`` and ``clinsynth report`` both
call :func:`build_report`. Importing this package does not import matplotlib; rendering does.
"""

from clinsynth.report.inputs import ReportConfig, ReportInputError, ReportInputs, discover, load_inputs

__all__ = ["ReportConfig", "ReportInputError", "ReportInputs", "discover", "load_inputs"]
