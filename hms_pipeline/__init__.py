"""hms-pipeline: a Dagster ELT pipeline from a legacy HMS database to the blueprint's canonical schema."""

__version__ = "0.1.0"
