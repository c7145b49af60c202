"""Test results as a JUnit XML report, for CI (see docs/prompt-tests.md)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from .testcases import CaseResult


# --- reporting -------------------------------------------------------------------------------------

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (shown as ``\\x00`` escapes)."""
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) and value >= 0 else "0.000"


def junit_xml(results_by_prompt: Mapping[str, Sequence[CaseResult]]) -> str:
    """The results as a JUnit XML report: a ``<testsuite>`` per prompt id (sorted), a ``<testcase>`` per
    case (in order), a ``<failure>`` in each failed case whose ``message`` lists why (its text too, one
    reason a line).  The same results always give the same text (times are rounded to milliseconds)."""
    ordered = sorted(results_by_prompt)
    total = sum(len(results_by_prompt[p]) for p in ordered)
    failed = sum(1 for p in ordered for r in results_by_prompt[p] if not r.passed)
    seconds = sum(r.seconds for p in ordered for r in results_by_prompt[p])
    root = ET.Element("testsuites", {"name": "anvil prompt tests", "tests": str(total),
                                     "failures": str(failed), "errors": "0", "time": _seconds(seconds)})
    for prompt_id in ordered:
        results = results_by_prompt[prompt_id]
        suite = ET.SubElement(root, "testsuite", {
            "name": _xml_text(prompt_id),
            "tests": str(len(results)),
            "failures": str(sum(1 for r in results if not r.passed)),
            "errors": "0",
            "skipped": "0",
            "time": _seconds(sum(r.seconds for r in results)),
        })
        for result in results:
            case = ET.SubElement(suite, "testcase", {"classname": _xml_text(prompt_id),
                                                     "name": _xml_text(result.name),
                                                     "time": _seconds(result.seconds)})
            if result.passed:
                continue
            reasons = result.failures or ["failed"]
            failure = ET.SubElement(case, "failure", {"message": _xml_text("; ".join(reasons)),
                                                      "type": "AssertionError"})
            failure.text = _xml_text("\n".join(reasons))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
