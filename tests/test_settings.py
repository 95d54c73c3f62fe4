"""Settings: defaults, validation of identifiers from configuration, clear errors."""

import subprocess
import sys

import pytest

from hms_pipeline.settings import TABLE_DEFAULTS, SettingsError, load_settings


def settings(**env):
    return load_settings(env=env, dotenv_path=None)


def test_defaults_cover_every_blueprint_table_variable():
    s = settings()
    assert len(TABLE_DEFAULTS) == 37
    assert str(s.table("TABLE_PATIENTS")) == "core.patients"
    assert str(s.table("TABLE_CODES")) == "ref.codes"
    assert s.legacy_schema == "public"
    assert s.uses_embedded and s.database_url is None
    assert s.embedded_pgdata.name == "pg"


@pytest.mark.parametrize(
    "value",
    ["core.patients;drop table x", "patients", "core.Patients", 'core."patients"', "a.b.c", "core. patients"],
)
def test_bad_table_name_is_refused_naming_the_variable(value):
    with pytest.raises(SettingsError, match="TABLE_PATIENTS"):
        settings(TABLE_PATIENTS=value)


def test_two_variables_cannot_name_one_table():
    with pytest.raises(SettingsError, match="TABLE_PERSONS"):
        settings(TABLE_PERSONS="core.patients")


def test_bad_legacy_schema_and_timezone_are_refused():
    with pytest.raises(SettingsError, match="HMS_LEGACY_SCHEMA"):
        settings(HMS_LEGACY_SCHEMA="public; drop schema core")
    with pytest.raises(SettingsError, match="HMS_FACILITY_TIMEZONE"):
        settings(HMS_FACILITY_TIMEZONE="Mars/Olympus")


def test_dotenv_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HMS_LEGACY_SCHEMA=legacy\nHMS_FACILITY_NAME=From Dotenv\n")
    s = load_settings(env={"HMS_FACILITY_NAME": "From Env"}, dotenv_path=env_file)
    assert s.legacy_schema == "legacy"
    assert s.facility_name == "From Env"


def test_cli_refuses_bad_table_name_at_start_up(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HMS_HOME": str(tmp_path), "TABLE_PATIENTS": "core.patients;drop table x"}
    proc = subprocess.run(
        [sys.executable, "-m", "hms_pipeline.cli", "db", "url"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "TABLE_PATIENTS" in proc.stderr and "drop table" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_work_mem_is_validated(tmp_path):
    from hms_pipeline.settings import SettingsError, load_settings

    assert load_settings({"HMS_WORK_MEM": "256MB"}, dotenv_path=tmp_path / "none").work_mem == "256MB"
    with pytest.raises(SettingsError, match="HMS_WORK_MEM"):
        load_settings({"HMS_WORK_MEM": "64MB'; drop table x"}, dotenv_path=tmp_path / "none")


def test_pipeline_sessions_run_without_jit_and_with_the_configured_work_mem(pg_server_url, monkeypatch):
    """The transforms are large one-off statements: JIT compilation and a 4MB work_mem (hash joins
    in thousands of batches) each cost seconds per table, so every pipeline session sets both."""
    from hms_pipeline.resources import HmsDatabaseResource

    monkeypatch.setenv("HMS_WORK_MEM", "32MB")
    with HmsDatabaseResource(database_url=pg_server_url).connect() as conn:
        assert conn.execute("show work_mem").fetchone()[0] == "32MB"
        assert conn.execute("show jit").fetchone()[0] == "off"
        assert conn.execute("show temp_buffers").fetchone()[0] == "128MB"


def test_phase6_settings_defaults():
    s = settings()
    assert s.cool_off_days == 14
    assert s.monitor_open_encounter_days == 30
    assert s.monitor_quarantine_growth == 0.05
    assert s.monitor_invoice_drift == 0.0
    assert s.spot_checks == 10
    s = settings(HMS_COOL_OFF_DAYS="0", HMS_MONITOR_OPEN_ENCOUNTER_DAYS="365", HMS_MONITOR_QUARANTINE_GROWTH="0",
                 HMS_MONITOR_INVOICE_DRIFT="0.50", HMS_SPOT_CHECKS="3")
    assert (s.cool_off_days, s.monitor_open_encounter_days, s.monitor_quarantine_growth, s.monitor_invoice_drift,
            s.spot_checks) == (0, 365, 0.0, 0.5, 3)


@pytest.mark.parametrize("variable, value", [
    ("HMS_COOL_OFF_DAYS", "-1"), ("HMS_COOL_OFF_DAYS", "two weeks"), ("HMS_COOL_OFF_DAYS", "1.5"),
    ("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "0"), ("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "x"),
    ("HMS_MONITOR_QUARANTINE_GROWTH", "-0.1"), ("HMS_MONITOR_QUARANTINE_GROWTH", "nan"),
    ("HMS_MONITOR_INVOICE_DRIFT", "-1"), ("HMS_MONITOR_INVOICE_DRIFT", "ten"),
    ("HMS_SPOT_CHECKS", "0"),
])
def test_phase6_settings_are_validated_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        settings(**{variable: value})
