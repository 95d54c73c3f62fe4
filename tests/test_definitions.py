"""The code location's shape, pinned: every asset key with its group, phase and checks (with their
blocking flag), every job with its executor and assets, every schedule and sensor. A table added,
removed or losing a check changes the snapshot; review the diff, then update it with

    .venv/bin/pytest tests/test_definitions.py --snapshot-update

Also: a canonical table that lacks its suite or its spec fails when the definitions load, naming
the file to add."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from hms_pipeline.definitions import defs
from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.discovery import check_every_transform_has_a_spec, transform_files
from hms_pipeline.lib.factory import MissingHomeError, table_definitions
from hms_pipeline.paths import EXPECTATIONS_DIR, SQL_DIR


def shape(d: dg.Definitions) -> dict:
    graph = d.resolve_asset_graph()
    specs = {s.key.to_user_string(): s for s in d.resolve_all_asset_specs()}
    assets = {}
    for key, spec in sorted(specs.items()):
        checks = sorted(
            f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}"
            for c in graph.get_check_keys_for_assets({spec.key}))
        assets[key] = {
            "group": spec.group_name,
            "phase": (spec.tags or {}).get("phase"),
            "kind": "external" if not graph.get(spec.key).is_materializable else "materializable",
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "checks": checks,
        }
    repo = d.get_repository_def()
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "executor": job.executor_def.name,
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
        }
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": {s.name: {"job": s.job_name, "cron": s.cron_schedule, "default": s.default_status.value}
                      for s in repo.schedule_defs},
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


def test_definitions_snapshot(snapshot):
    assert shape(defs) == snapshot


def test_every_canonical_asset_has_all_its_checks():
    """Independent of the snapshot: the factory gives every canonical table its three checks (and
    ``expectations_warn`` / ``expectations_late`` when its suite has WARN / late rules), plus one
    blocking ``conservation_<name>`` per file in ``sql/<schema>/<table>.checks/``."""
    from hms_pipeline.lib.monitors import MONITORS
    from hms_pipeline.paths import SQL_DIR

    graph = defs.resolve_asset_graph()
    canonical = [s for s in defs.resolve_all_asset_specs()
                 if s.group_name in ("core", "clinical", "inpatient", "pharmacy", "billing", "ref")]
    assert canonical
    conserving = 0
    for spec in canonical:
        schema, table = spec.key.path
        files = sorted((SQL_DIR / schema / f"{table}.checks").glob("*.sql"))
        conserving += bool(files)
        names = {c.name for c in graph.get_check_keys_for_assets({spec.key})}
        engine = {"reconciliation", "warnings", "expectations"} | {f"conservation_{f.stem}" for f in files}
        # the WARN monitors (issue #14, hms_pipeline/defs/monitors) on the tables they watch
        monitors = {f"monitor_{m.name}" for m in MONITORS if m.asset == tuple(spec.key.path)}
        assert engine <= names <= engine | {"expectations_warn", "expectations_late"} | monitors, spec.key
        blocking = {c.name for c in graph.get_check_keys_for_assets({spec.key}) if graph.get_check_spec(c).blocking}
        assert {f"conservation_{f.stem}" for f in files} <= blocking, spec.key
    assert conserving >= 1  # pharmacy.items at least


def test_every_transform_file_is_claimed_by_a_spec():
    check_every_transform_has_a_spec(defs.resolve_all_asset_specs())
    assert len(transform_files()) >= 23


def test_a_missing_suite_fails_at_load_naming_the_file(tmp_path):
    root = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, root)
    (root / "core" / "patients.json").unlink()
    from hms_pipeline.defs import core

    with pytest.raises(MissingHomeError, match=r"expectations/core/patients\.json"):
        table_definitions(core.SPECS, expectations_root=root)


def test_a_spec_without_its_transform_fails_at_load_naming_the_file():
    spec = TableSpec("core", "nonexistent_table", sources=(Source("patients"),))
    with pytest.raises(MissingHomeError, match=r"sql/core/nonexistent_table\.sql"):
        table_definitions([spec])


def test_a_transform_without_a_spec_fails_at_load_naming_the_file(tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir, ignore=shutil.ignore_patterns("legacy"))
    # every real transform is claimed, so the copy's only orphan is the new file
    (sql_dir / "core" / "orphan_table.sql").write_text("select 1")
    with pytest.raises(MissingHomeError, match=r"sql/core/orphan_table\.sql.*hms_pipeline/defs/core/"):
        check_every_transform_has_a_spec(defs.resolve_all_asset_specs(), sql_dir)


def test_removing_a_spec_is_caught():
    """A spec deleted from its package leaves its transform unclaimed: the location refuses to load."""
    without = [s for s in defs.resolve_all_asset_specs() if s.key != dg.AssetKey(["core", "users"])]
    with pytest.raises(MissingHomeError, match=r"sql/core/users\.sql"):
        check_every_transform_has_a_spec(without)
