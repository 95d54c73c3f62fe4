"""Phase 3, the compatibility layer (issue #13): the kept store, the compatibility views over the
canonical tables and the switch that puts them under the legacy names. No Dagster here: the jobs and
the CLI call these functions."""
