"""``jacwrap reproduce``: the paper's analyses for many tasks in one resumable run.

Modules, one job each: ``plan`` (settings, units, estimates), ``costs`` (the measured cost
table), ``units`` (what a unit is and how it runs), ``manifest`` (what is done, provenance),
``executors`` (local or Ray), ``progress`` (the one progress display), ``run`` (the driver,
:func:`reproduce`), ``report`` / ``report_doc`` / ``report_html`` / ``figures`` (the report),
``measure`` (re-measuring the cost table).
"""

from __future__ import annotations


def reproduce(*args, **kwargs):
    """See :func:`jacwrap.reproduce.run.reproduce` (imported on first use)."""
    from jacwrap.reproduce.run import reproduce as _reproduce

    return _reproduce(*args, **kwargs)


__all__ = ["reproduce"]
