"""The legacy assets' catalog descriptions are plain language (issue #16); no database needed."""

from __future__ import annotations

import re

import pytest

from hms_pipeline.defs.legacy import legacy_asset_specs
from hms_pipeline.legacy.contract import sentences
from hms_pipeline.legacy.descriptions import PLAIN, plain_description
from hms_pipeline.legacy.schema import contract

CONTRACT = contract()

# The audit's shorthand: source tags, "ghost", appendix items, quirk numbers, migration timestamps and
# the contract's decision and cleanup-step numbers.
JARGON = re.compile(
    r"\b(?:ghosts?|DS|PBT|ADT|AUD|PIS|PDS|CDSD)\b"
    r"|\bApp\.\s*C\b"
    r"|\bQ\d+\b"
    r"|\bM:\d+"
    r"|\bDecision\s+\d+\b"
    r"|\bStep\s+\d+\b",
    re.IGNORECASE,
)


def test_every_contract_relation_has_a_plain_description():
    assert len(CONTRACT.names) == 44
    assert set(PLAIN) == set(CONTRACT.names)


def test_jargon_pattern_catches_the_audit_shorthand():
    for text in ("A ghost with no DDL.", "DS shape.", "App. C #11", "PBT listing, which matches AUD",
                 "(Q32)", "M:20260217060000", "Decision 8", "Step 2", "ADT/CDSD", "PIS", "PDS"):
        assert JARGON.search(text), text


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_text_is_jargon_free_and_sized(name):
    text = PLAIN[name]
    assert not JARGON.search(text), f"{name}: audit shorthand {JARGON.search(text).group(0)!r}"
    assert 60 <= len(text) <= 700, f"{name}: {len(text)} characters"
    assert 1 <= len(sentences(text)) <= 4, f"{name}: {len(sentences(text))} sentences"


def test_plain_description_keeps_the_audit_note():
    note = CONTRACT.table("users").note
    assert plain_description("users", note) == f"{PLAIN['users']}\n\nSource audit note: {note}"
    assert plain_description("payment_ledger", None) == PLAIN["payment_ledger"]
    assert plain_description("payment_ledger", "  ") == PLAIN["payment_ledger"]
    with pytest.raises(KeyError, match="no plain description"):
        plain_description("no_such_table", None)


def test_asset_specs_carry_the_plain_text_first():
    specs = {spec.key.path[-1]: spec for spec in legacy_asset_specs(CONTRACT)}
    assert list(specs) == list(CONTRACT.names)
    for name, spec in specs.items():
        assert spec.description.startswith(PLAIN[name]), name
        block = CONTRACT.tables.get(name)
        if block is None:  # payment_ledger, the base table behind payment_history: no note of its own
            assert spec.description == PLAIN[name]
        else:
            assert spec.description.endswith(f"\n\nSource audit note: {block.note}"), name
