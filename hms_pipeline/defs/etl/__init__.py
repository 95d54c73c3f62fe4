"""The legacy snapshot every backfill run works from."""

from hms_pipeline.defs.etl.assets import defs

__all__ = ["defs"]
