"""Everything the code location holds, one package per Postgres schema (the asset group), found by
Dagster's ``load_defs`` (see :mod:`hms_pipeline.definitions`): a module that defines Dagster objects
at module level (a ``Definitions``, assets, a ``@dg.definitions`` function) contributes them.

A canonical schema's package declares its tables as ``SPECS`` and ends with
``defs = table_definitions(SPECS)``; nothing else needs an edit to add a table."""
