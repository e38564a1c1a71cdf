"""Cells of the CSV exports, safe to open in a spreadsheet (OWASP "CSV Injection").

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula, and values such as a token's ``sub`` or an
``X-Correlation-Id`` are chosen by clients: ``=HYPERLINK("http://evil","x")`` would
become a live link in an auditor's export.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as cell text (``None`` as empty), with a leading single quote when a
    spreadsheet would otherwise read it as a formula, so that it shows as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
