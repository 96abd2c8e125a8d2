"""``dlcli report RUN``: one self-contained HTML page about a run (engine; prints nothing).

:func:`build_report` returns the page; ``dlcli.commands.report`` writes it atomically.
Modules: ``run_files`` (the run folder's records, no TensorFlow), ``data_summary``,
``scoring`` (the validation data scored once, per example), ``selection`` and ``gallery``
(which examples, thumbnails, Grad-CAM), ``figures`` (curves, feature maps), ``images``
(``data:`` URIs), ``page`` (the Jinja2 template's data and rendering).
"""

from dlcli.report.engine import Report, ReportOptions, build_report

__all__ = ["Report", "ReportOptions", "build_report"]
