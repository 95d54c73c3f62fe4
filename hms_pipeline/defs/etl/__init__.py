"""etl: the legacy snapshot every backfill run works from (``assets.py``)."""
