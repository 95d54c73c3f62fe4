"""ref: controlled vocabularies and the pipeline's explicit legacy-value mappings."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

SPECS = [
    TableSpec(
        "ref", "codes", sources=(Source("ref_code"),), kind="script",
        description="Grain: one row per (code, system). Sources: legacy ref_code (system 'legacy.<domain>') "
        "and the explicit mapping data of `sql/ref/codes.sql` (system 'map:<legacy column>': legacy value -> "
        "canonical value), which every transform uses to map legacy vocabularies to canonical enums. Written "
        "by its script (reference data keyed by (code, system), no soft deletes).",
    ),
]

defs = table_definitions(SPECS)
