"""report.html: one self-contained page (inline SVG plots, inline JPEG thumbnails, no network) per run folder.

    python -m perception.report DIR        # (re)build DIR/report.html from DIR/frames.jsonl and DIR/summary.json

``perception.run`` calls ``write_report`` at the end of every run (``--no-report`` skips it); ``perception.replay``
links every run's report from its fleet index.
"""

from perception.report.build import ReportError, build_report, read_run, write_report

__all__ = ["ReportError", "build_report", "read_run", "write_report"]
