"""PHI discipline for everything the quality layer shows: reports, log lines, check metadata.

What may appear: counts, percentages, reason codes, expectation names, canonical/legacy table
names, and a failing row's legacy key when it is a surrogate (uuid or integer). Any other legacy
key (a UHID, a phone used as key, ...) is replaced by a keyed hash (HMAC-SHA256) so a reviewer can
still match the same row across runs without seeing the value.

Three helpers keep values out:
- :func:`mask_key` for legacy keys,
- :func:`sanitize_gx_result` keeps only counts from a GX validation result (no unexpected values,
  no observed values that are not plain numbers),
- :func:`scrub_message` for exception text (quoted literals removed).

:func:`scan_for_phi` is the scanner the tests run over written reports.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Canonical columns that hold PHI or free text that may (notes, reasons, descriptions). Suites may
# only put count-only (map) expectations on them; reports never show their values.
PHI_COLUMNS: dict[str, frozenset[str]] = {
    "core.persons": frozenset({"first_name", "last_name", "dob", "phone", "email", "address"}),
    "core.users": frozenset({"email"}),
    "core.staff": frozenset({"license_no"}),
    "core.patients": frozenset({"uhid"}),
    "clinical.allergies": frozenset({"description"}),
    "clinical.symptoms": frozenset({"description"}),
    "clinical.medical_history": frozenset({"description"}),
    "clinical.lab_results": frozenset({"value", "ref_range"}),
    "inpatient.admissions": frozenset({"reason"}),
    "pharmacy.prescriptions": frozenset({"instructions", "diagnosis", "notes", "legacy_attributes"}),
    "pharmacy.rx_lines": frozenset({"instructions", "legacy_attributes"}),
    "pharmacy.dispenses": frozenset({"legacy_attributes"}),
    "billing.invoice_lines": frozenset({"description"}),
    "billing.payments": frozenset({"ref_no"}),
    "ops.attachments": frozenset({"url"}),
}

HMAC_KEY_ENV = "HMS_REPORT_HMAC_KEY"

_SURROGATE_RE = re.compile(
    r"^(?:[0-9]{1,19}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})(?:#[0-9]{1,6})?$"
)


def is_surrogate_key(key: str) -> bool:
    """A uuid or an integer (optionally with the engine's ``#n`` fan-out suffix): not PHI."""
    return bool(_SURROGATE_RE.match(key or ""))


def hmac_key(home: Path | None = None) -> bytes:
    """The key of the keyed hash: ``HMS_REPORT_HMAC_KEY`` if set, else a random key kept (0600) in
    ``<home>/report_hmac.key`` so hashes stay stable across runs on one installation."""
    env = os.environ.get(HMAC_KEY_ENV)
    if env:
        return env.encode()
    if home is None:
        from hms_pipeline.settings import load_settings

        home = load_settings().home
    path = Path(home) / "report_hmac.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def mask_key(legacy_table: str, legacy_key: str, key: bytes) -> str:
    """The legacy key as shown in reports: unchanged when it is a surrogate, else ``h:<16 hex>``."""
    if is_surrogate_key(legacy_key):
        return legacy_key
    digest = hmac.new(key, f"{legacy_table}|{legacy_key}".encode(), hashlib.sha256).hexdigest()
    return f"h:{digest[:16]}"


_QUOTED_RE = re.compile(r"'(?:[^']|'')*'")
_EMAIL_RE = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_DIGITS_RE = re.compile(r"(?<![\w.-])\+?\d[\d ()-]{7,}\d(?![\w.-])")


def scrub_message(text: str | None, limit: int = 200) -> str:
    """First line of an exception message with quoted literals, emails and long digit runs removed
    (database errors quote the offending value: ``invalid input syntax for type uuid: 'Ravi'``)."""
    if not text:
        return ""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    line = _QUOTED_RE.sub("'…'", line)
    line = _EMAIL_RE.sub("<email>", line)
    line = _DIGITS_RE.sub("<number>", line)
    return line[:limit]


# Keys of a GX expectation result that carry only counts/percentages.
_COUNT_KEYS = frozenset({
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
    "missing_count",
    "missing_percent",
})


def _plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sanitize_expectation_result(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only counts survive: unexpected value lists, index lists, row samples, query text and
    non-numeric observed values (a max date of birth, a list of distinct values) are dropped."""
    out: dict[str, Any] = {}
    for k, v in (result or {}).items():
        if k in _COUNT_KEYS and (v is None or _plain_number(v)):
            out[k] = v
        elif k == "observed_value" and _plain_number(v):
            out[k] = v
    return out


def sanitize_gx_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready GX suite validation result with every value that could come from a row removed.
    Exception messages are scrubbed; tracebacks dropped."""
    clean = dict(result)
    items = []
    for r in result.get("results", []):
        r = dict(r)
        r["result"] = sanitize_expectation_result(r.get("result"))
        info = dict(r.get("exception_info") or {})
        if info:
            # GX gives either one {raised_exception, exception_message, ...} or, when a metric
            # failed, a dict of those keyed by metric id.
            parts = [info] if "raised_exception" in info else [
                v for v in info.values() if isinstance(v, dict)]
            raised = [p for p in parts if p.get("raised_exception")]
            r["exception_info"] = {
                "raised_exception": bool(raised),
                "exception_message": scrub_message(raised[0].get("exception_message")) if raised else None,
                "exception_traceback": None,
            }
        items.append(r)
    clean["results"] = items
    return clean


# --- scanner used by tests (and available to a reviewer) --------------------------------------------


@dataclass(frozen=True)
class PhiFinding:
    where: str
    kind: str
    sample: str


def scan_text(text: str, where: str = "", needles: Iterable[str] = (),
              patterns: bool = True) -> list[PhiFinding]:
    """Findings in ``text``: every needle (case-insensitive: names, phones, emails of the test rows)
    and, with ``patterns``, anything shaped like an email address or a phone number."""
    found: list[PhiFinding] = []
    low = text.lower()
    for needle in needles:
        if needle and needle.lower() in low:
            found.append(PhiFinding(where, "needle", needle))
    if patterns:
        for m in _EMAIL_RE.finditer(text):
            found.append(PhiFinding(where, "email", m.group(0)))
        for m in _DIGITS_RE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 10 <= len(digits) <= 13 and not _DATE_RE.match(m.group(0)):
                found.append(PhiFinding(where, "phone", m.group(0)))
    return found


SCANNED_SUFFIXES = (".html", ".json", ".md", ".txt", ".log", ".csv")


def scan_for_phi(paths: Iterable[Path], needles: Iterable[str] = (),
                 patterns: bool = True) -> list[PhiFinding]:
    """Scan files (folders recursively, text files only; GX's ``static`` assets are skipped)."""
    needles = list(needles)
    found: list[PhiFinding] = []
    for path in paths:
        path = Path(path)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.suffix not in SCANNED_SUFFIXES or "static" in f.parts:
                continue
            found += scan_text(f.read_text(encoding="utf-8", errors="replace"), str(f), needles, patterns)
    return found
