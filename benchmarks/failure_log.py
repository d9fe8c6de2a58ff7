"""A pytest plugin for runs that may be cut short (a lent GPU machine's time limit): each failure's
traceback is appended to $FAILURE_LOG as soon as the test fails, not in the summary at the end.

    FAILURE_LOG=/tmp/failures.txt PYTHONPATH=. python -m pytest -p benchmarks.failure_log ...
"""
from __future__ import annotations

import os


def pytest_runtest_logreport(report):
    path = os.environ.get("FAILURE_LOG")
    if not path or not report.failed:
        return
    with open(path, "a") as f:
        f.write(f"==== {report.nodeid} ({report.when})\n{report.longreprtext}\n\n")
