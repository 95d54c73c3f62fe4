"""``hms-pipeline security ...`` (phase 5) and ``hms-pipeline cutover teardown|checklist`` (phase 6 and
the blueprint's cutover checklist). Parsers are in :mod:`hms_pipeline.cli`; the commands live with
their code: :mod:`hms_pipeline.lib.security_cmd` and :mod:`hms_pipeline.lib.phase6`."""

from __future__ import annotations

import argparse


def cmd_security(args: argparse.Namespace, settings) -> int:
    from hms_pipeline.lib import security_cmd

    return security_cmd.run(args, settings)


def cmd_cutover(args: argparse.Namespace, settings) -> int:
    """The backfill's blocking checks come from the product's Dagster instance (teardown refuses while
    one fails; the checklist shows them)."""
    from hms_pipeline.definitions import defs
    from hms_pipeline.instance import get_instance
    from hms_pipeline.lib import phase6

    return phase6.run(args, settings, instance=get_instance(settings), asset_graph=defs.resolve_asset_graph())
