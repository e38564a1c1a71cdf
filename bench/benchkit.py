"""What every benchmark prints beside its table: ``RESULT`` lines and the machine.

A ``RESULT`` line is one figure as JSON, so that two runs can be compared mechanically
(``grep '^RESULT' run1.txt``)::

    RESULT {"bench": "flow", "metric": "p50_ms.commit_to_bus@rate=10", "value": 4.1, "unit": "ms"}

``metric`` is the figure's name, then ``@`` and the parameters of the cell it belongs to
(contender, writers, rate, ...), always in the same order, so (bench, metric) is a key.
Imported as ``from benchkit import ...``: the scripts run as ``python bench/<name>.py``,
which puts this directory first on ``sys.path``.
"""

from __future__ import annotations

import json
import math
import os
import platform


def result(bench: str, metric: str, value: float | int, unit: str, **params: object) -> None:
    """Print one figure as a ``RESULT`` line (NaN and infinities as ``null``)."""
    if params:
        metric += "@" + ",".join(f"{k}={v}" for k, v in params.items())
    out: float | int | None = value
    if isinstance(value, float):
        out = round(value, 4) if math.isfinite(value) else None
    doc = {"bench": bench, "metric": metric, "value": out, "unit": unit}
    print("RESULT " + json.dumps(doc, ensure_ascii=False), flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
        return kb / 1024 / 1024
    except (OSError, StopIteration, ValueError):
        return float("nan")


def machine() -> str:
    """CPU model, cores, RAM, kernel, Python and the load average when the run began."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {ram_gb():.0f} GB RAM;"
        f" {platform.system()} {platform.release()}; Python {platform.python_version()};"
        f" load average {load}"
    )
