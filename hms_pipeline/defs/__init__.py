"""Everything the code location holds, one package per Postgres schema (the asset group), found by
Dagster's ``load_defs`` (see :mod:`hms_pipeline.definitions`): a module that defines Dagster objects
at module level (a ``Definitions``, assets, a ``@dg.definitions`` function) contributes them.

A canonical schema's package declares its tables as ``SPECS`` and ends with
``defs = table_definitions(SPECS)``; nothing else needs an edit to add a table."""


import functools


@functools.cache
def all_specs() -> tuple:
    """Every TableSpec of the code location (``SPECS`` of every module under this package), by name."""
    import importlib
    import pkgutil

    specs = {}
    for mod in pkgutil.walk_packages(__path__, __name__ + "."):
        for spec in getattr(importlib.import_module(mod.name), "SPECS", None) or ():
            specs[spec.name] = spec
    return tuple(specs[k] for k in sorted(specs))
