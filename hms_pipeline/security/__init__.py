"""Phase 5: roles, row-level security and audit (issue #14). No Dagster here."""
