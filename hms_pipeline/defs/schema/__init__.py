"""Phase 1: the canonical schema."""

from hms_pipeline.defs.schema.assets import defs

__all__ = ["defs"]
