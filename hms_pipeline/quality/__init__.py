"""Quality gates: GX 1.x expectation suites (``expectations/<schema>/<table>.json``) run inside
Postgres as Dagster asset checks, and a PHI-free validation report per run.

- :mod:`.suites`: load and validate suite files (data a reviewer edits without Python);
- :mod:`.gx_runner`: ``run_suite(url, table)`` -> ``SuiteOutcome`` -> ``AssetCheckResult``;
- :mod:`.checks`: ``suite_checks(table_names, later=...)``: per table its ERROR rules (blocking),
  its WARN rules, and the rules reading tables loaded later (run once those are loaded);
- :mod:`.reports`: ``write_run_report(conn, run_id, ...)`` -> ``reports/<run id>/index.html``;
- :mod:`.finance`: the report's finance section (legacy vs migrated money, differences by reason);
- :mod:`.phi`: masking helpers and the scanner the tests run over reports.

Importing this package does not import GX (2 s); the runner does, when a check first runs.
"""
