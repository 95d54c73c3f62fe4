"""One place that reads configuration (environment, then `.env`) and validates it.

Identifiers that come from configuration (the blueprint's ``TABLE_*`` names, the legacy schema)
are validated here, at start-up, and are only ever used in SQL through ``psycopg.sql.Identifier``.
A bad value raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from hms_pipeline.paths import PROJECT_ROOT

# The blueprint's `.env` section, verbatim: variable -> default "schema.table".
TABLE_DEFAULTS: dict[str, str] = {
    # Core
    "TABLE_USERS": "core.users",
    "TABLE_PERSONS": "core.persons",
    "TABLE_PATIENTS": "core.patients",
    "TABLE_STAFF": "core.staff",
    "TABLE_STAFF_ROLES": "core.staff_roles",
    "TABLE_DEPARTMENTS": "core.departments",
    "TABLE_FACILITIES": "core.facilities",
    "TABLE_STAFF_SCHEDULES": "core.staff_schedules",
    # Clinical
    "TABLE_APPOINTMENTS": "clinical.appointments",
    "TABLE_ENCOUNTERS": "clinical.encounters",
    "TABLE_VITALS": "clinical.vitals",
    "TABLE_ALLERGIES": "clinical.allergies",
    "TABLE_SYMPTOMS": "clinical.symptoms",
    "TABLE_MEDICAL_HISTORY": "clinical.medical_history",
    "TABLE_LAB_TESTS": "clinical.lab_tests",
    "TABLE_LAB_ORDERS": "clinical.lab_orders",
    "TABLE_LAB_ORDER_ITEMS": "clinical.lab_order_items",
    "TABLE_LAB_RESULTS": "clinical.lab_results",
    # Inpatient
    "TABLE_ADMISSIONS": "inpatient.admissions",
    "TABLE_WARDS": "inpatient.wards",
    "TABLE_BEDS": "inpatient.beds",
    "TABLE_BED_ALLOCATIONS": "inpatient.bed_allocations",
    # Pharmacy
    "TABLE_ITEMS": "pharmacy.items",
    "TABLE_BATCHES": "pharmacy.batches",
    "TABLE_INVENTORY_TXNS": "pharmacy.inventory_txns",
    "TABLE_PRESCRIPTIONS": "pharmacy.prescriptions",
    "TABLE_RX_LINES": "pharmacy.rx_lines",
    "TABLE_DISPENSES": "pharmacy.dispenses",
    # Billing
    "TABLE_FEE_SCHEDULES": "billing.fee_schedules",
    "TABLE_FEE_RATES": "billing.fee_rates",
    "TABLE_CHARGES": "billing.charges",
    "TABLE_INVOICES": "billing.invoices",
    "TABLE_INVOICE_LINES": "billing.invoice_lines",
    "TABLE_PAYMENTS": "billing.payments",
    # Ops / Reference
    "TABLE_AUDIT_LOG": "ops.audit_log",
    "TABLE_ATTACHMENTS": "ops.attachments",
    "TABLE_CODES": "ref.codes",
}

_IDENT = r"[a-z_][a-z0-9_]{0,62}"
_QUALIFIED_RE = re.compile(rf"^({_IDENT})\.({_IDENT})$")
_SCHEMA_RE = re.compile(rf"^{_IDENT}$")


# Schemas the legacy source may never be: the canonical ones, the product's own, and the system's.
CANONICAL_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref", "view")
PRODUCT_SCHEMAS = ("stg", "etl", "hms_truth", "legacy_archive")
SYSTEM_SCHEMAS = ("information_schema",)  # and every pg_* schema


def _is_system_schema(name: str) -> bool:
    return name in SYSTEM_SCHEMAS or name.startswith("pg_")


_WORK_MEM_RE = re.compile(r"^[1-9][0-9]{0,6}(kB|MB|GB)$")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


@dataclass(frozen=True)
class TableName:
    """A validated ``schema.table`` name from configuration."""

    schema: str
    table: str

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def parse_table_name(variable: str, value: str) -> TableName:
    """Validate a ``schema.table`` value; raise :class:`SettingsError` naming ``variable``."""
    m = _QUALIFIED_RE.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise SettingsError(
            f"{variable}={value!r} is not a valid 'schema.table' identifier "
            "(lower-case letters, digits and underscores; one dot)"
        )
    return TableName(m.group(1), m.group(2))


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    legacy_database_url: str | None
    legacy_schema: str
    facility_name: str
    facility_timezone: str
    home: Path
    embedded_pgdata: Path
    dagster_home: Path
    dagster_database: str
    reports_dir: Path
    tables: dict[str, TableName] = field(default_factory=dict)
    # memory per sort/hash of the pipeline's own sessions (HMS_WORK_MEM). The server default (4MB)
    # spills the transforms' whole-table joins to disk: at 100k patients the appointments transform
    # took 6.8 s with 4MB (a hash join in 8192 batches) and 2.5 s with 64MB.
    work_mem: str = "64MB"
    # a legacy table may shrink by this share between snapshots before the backfill refuses to
    # soft-delete (HMS_MAX_SHRINK; --accept-deletions TABLE lets a real purge through)
    max_shrink: float = 0.10
    # how a snapshot finds changed legacy rows (HMS_CHANGE_DETECTION): "sweep" compares every row
    # every run (misses nothing; on the same database only rows with a new row version, xmin, are
    # hashed); "hash" hashes every row every run; "watermark" reads rows past the last
    # updated_at/created_at only
    change_detection: str = "sweep"
    # phase 6 (issue #14): days between `cutover compat` and the earliest teardown (HMS_COOL_OFF_DAYS)
    cool_off_days: int = 14
    # monitors (hms_pipeline/lib/monitors.py): an encounter open longer than this many days is
    # flagged (HMS_MONITOR_OPEN_ENCOUNTER_DAYS); the unresolved quarantine may grow by this share
    # between two monitor runs (HMS_MONITOR_QUARANTINE_GROWTH); an invoice's stored totals may drift
    # from its ledgers by this amount (HMS_MONITOR_INVOICE_DRIFT, currency units)
    monitor_open_encounter_days: int = 30
    monitor_quarantine_growth: float = 0.05
    monitor_invoice_drift: float = 0.0
    # rows per legacy table the checklist's spot check compares field by field (HMS_SPOT_CHECKS)
    spot_checks: int = 10
    # where the reports folder is served (HMS_REPORTS_URL): `hms-pipeline dev` serves it there,
    # beside the UI, and every run's metadata links its report under it
    reports_url: str = "http://127.0.0.1:3001"

    def table(self, variable: str) -> TableName:
        """The configured name of a canonical table, by its blueprint variable (``TABLE_PATIENTS``)."""
        return self.tables[variable]

    @property
    def uses_embedded(self) -> bool:
        return not self.database_url

    @property
    def legacy_is_separate(self) -> bool:
        return bool(self.legacy_database_url) and self.legacy_database_url != self.database_url


def load_settings(env: dict[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``) over ``.env``; validate everything."""
    if env is None:
        env = dict(os.environ)
    dotenv_path = dotenv_path or Path(env.get("HMS_ENV_FILE", PROJECT_ROOT / ".env"))
    values = {**_read_dotenv(dotenv_path), **env}

    def get(name: str, default: str | None = None) -> str | None:
        v = values.get(name)
        return v if v not in (None, "") else default

    def path(name: str, default: Path) -> Path:
        """A path setting; relative values are relative to the project folder."""
        value = Path(get(name, str(default))).expanduser()
        return (value if value.is_absolute() else PROJECT_ROOT / value).resolve()

    home = path("HMS_HOME", PROJECT_ROOT / ".hms")

    legacy_schema = get("HMS_LEGACY_SCHEMA", "public")
    if not _SCHEMA_RE.match(legacy_schema):
        raise SettingsError(f"HMS_LEGACY_SCHEMA={legacy_schema!r} is not a valid schema identifier")
    if _is_system_schema(legacy_schema) or legacy_schema in CANONICAL_SCHEMAS + PRODUCT_SCHEMAS:
        kind = ("a system schema" if _is_system_schema(legacy_schema) else
                "a canonical schema" if legacy_schema in CANONICAL_SCHEMAS else "a schema of the product's own")
        raise SettingsError(f"HMS_LEGACY_SCHEMA={legacy_schema!r} is {kind}: the legacy tables must live elsewhere "
                            "(the generator would drop it, the backfill would read the target as its source)")

    change_detection = get("HMS_CHANGE_DETECTION", "sweep")
    if change_detection not in ("sweep", "hash", "watermark"):
        raise SettingsError(f"HMS_CHANGE_DETECTION={change_detection!r} is not 'sweep', 'hash' or 'watermark'")

    max_shrink_text = get("HMS_MAX_SHRINK", "0.10")
    try:
        max_shrink = float(max_shrink_text)
    except ValueError:
        max_shrink = -1.0
    if not 0.0 <= max_shrink <= 1.0:
        raise SettingsError(f"HMS_MAX_SHRINK={max_shrink_text!r} is not a share between 0 and 1 (e.g. 0.10)")

    def whole(name: str, default: str, *, minimum: int = 0, what: str = "a whole number") -> int:
        text = get(name, default)
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise SettingsError(f"{name}={text!r} is not {what} >= {minimum}")
        return value

    def amount(name: str, default: str, *, upper: float | None = None, what: str) -> float:
        text = get(name, default)
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (0.0 <= value and (upper is None or value <= upper)) or value != value:
            raise SettingsError(f"{name}={text!r} is not {what}")
        return value

    cool_off_days = whole("HMS_COOL_OFF_DAYS", "14", what="a number of days")
    open_encounter_days = whole("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "30", minimum=1, what="a number of days")
    quarantine_growth = amount("HMS_MONITOR_QUARANTINE_GROWTH", "0.05", upper=1000.0,
                               what="a share >= 0 (e.g. 0.05 for 5%)")
    invoice_drift = amount("HMS_MONITOR_INVOICE_DRIFT", "0.00", upper=1e12, what="an amount >= 0 (e.g. 0.00)")
    spot_checks = whole("HMS_SPOT_CHECKS", "10", minimum=1, what="a number of rows per table")

    tz = get("HMS_FACILITY_TIMEZONE", "Asia/Kolkata")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"HMS_FACILITY_TIMEZONE={tz!r} is not a known IANA time zone") from exc

    work_mem = get("HMS_WORK_MEM", "64MB")
    if not _WORK_MEM_RE.match(work_mem):
        raise SettingsError(f"HMS_WORK_MEM={work_mem!r} is not a memory size like 64MB (kB, MB or GB)")

    dagster_db = get("HMS_DAGSTER_DATABASE", "hms_dagster")
    if not _SCHEMA_RE.match(dagster_db):
        raise SettingsError(f"HMS_DAGSTER_DATABASE={dagster_db!r} is not a valid database name")

    tables = {var: parse_table_name(var, get(var, default)) for var, default in TABLE_DEFAULTS.items()}
    for var, name in tables.items():
        if _is_system_schema(name.schema):
            raise SettingsError(f"{var}={name} points into the system schema {name.schema!r}")
    seen: dict[str, str] = {}
    for var, name in tables.items():
        if str(name) in seen:
            raise SettingsError(f"{var}={name} is also used by {seen[str(name)]}")
        seen[str(name)] = var

    return Settings(
        database_url=get("HMS_DATABASE_URL"),
        legacy_database_url=get("HMS_LEGACY_DATABASE_URL"),
        legacy_schema=legacy_schema,
        facility_name=get("HMS_FACILITY_NAME", "Annam Hospital"),
        facility_timezone=tz,
        home=home,
        embedded_pgdata=path("HMS_EMBEDDED_PGDATA", home / "pg"),
        dagster_home=path("DAGSTER_HOME", home / "dagster"),
        dagster_database=dagster_db,
        reports_dir=path("HMS_REPORTS_DIR", PROJECT_ROOT / "reports"),
        tables=tables,
        work_mem=work_mem,
        max_shrink=max_shrink,
        change_detection=change_detection,
        cool_off_days=cool_off_days,
        monitor_open_encounter_days=open_encounter_days,
        monitor_quarantine_growth=quarantine_growth,
        monitor_invoice_drift=invoice_drift,
        spot_checks=spot_checks,
        reports_url=_reports_url(get("HMS_REPORTS_URL", "http://127.0.0.1:3001")),
    )


def _reports_url(url: str) -> str:
    """``HMS_REPORTS_URL``: an http(s) URL with a host (the reports server's address), no trailing slash."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"HMS_REPORTS_URL={url!r} is not an http(s) URL with a host")
    return url.rstrip("/")
