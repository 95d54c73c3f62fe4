"""Phase 1: the canonical schema (``assets.py``)."""
