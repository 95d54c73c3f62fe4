"""PHI helpers: legacy keys hashed unless surrogate, GX results reduced to counts, messages scrubbed,
and the scanner finds what it must (and not CDN version strings or timestamps)."""

from hms_pipeline.quality.phi import mask_key, sanitize_gx_result, scan_text, scrub_message


def test_surrogate_keys_stay_other_keys_are_hashed_stably():
    key = b"k"
    assert mask_key("patients", "3f2b1c9e-8f6a-4c1e-9f5e-2a7b6c8d9e0f", key) == "3f2b1c9e-8f6a-4c1e-9f5e-2a7b6c8d9e0f"
    assert mask_key("vitals", "1234#2", key) == "1234#2"
    hashed = mask_key("patients", "AH2401-0009", key)
    assert hashed.startswith("h:") and "AH2401" not in hashed
    assert hashed == mask_key("patients", "AH2401-0009", key) != mask_key("patients", "AH2401-0009", b"other")


def test_gx_result_keeps_counts_only():
    raw = {"results": [{
        "success": False,
        "expectation_config": {"type": "expect_column_max_to_be_between", "kwargs": {"column": "dob"}},
        "result": {"observed_value": "1984-03-07", "element_count": 3, "unexpected_count": 1,
                   "partial_unexpected_list": ["Ravi"], "partial_unexpected_counts": [{"value": "Ravi", "count": 1}],
                   "unexpected_index_query": "select * from core.persons where first_name = 'Ravi'",
                   "details": {"value_counts": [{"value": "Ravi", "count": 1}]}},
        "exception_info": {"m1": {"raised_exception": True, "exception_message": "invalid input syntax for type uuid: 'Ravi'",
                                  "exception_traceback": "Traceback ... Ravi"}},
    }]}
    clean = sanitize_gx_result(raw)
    assert "Ravi" not in str(clean) and "1984" not in str(clean)
    r = clean["results"][0]
    assert r["result"] == {"element_count": 3, "unexpected_count": 1}
    assert r["exception_info"] == {"raised_exception": True, "exception_traceback": None,
                                   "exception_message": "invalid input syntax for type uuid: '…'"}


def test_scrub_message_removes_literals_emails_and_numbers():
    msg = scrub_message("duplicate key (email)=(ravi@example.in) phone +91 98450 12345 'Ravi Kumar'\nDETAIL: more")
    assert "ravi" not in msg.lower() and "98450" not in msg and "DETAIL" not in msg


def test_scanner_finds_phi_and_ignores_versions_and_timestamps():
    text = "bootstrap-table@1.19.1 generated 2026-11-24 22:01:05 run 9b0b0fdb-4733-49b0-bfbe-d5f72bc8d150"
    assert scan_text(text) == []
    found = {(f.kind, f.sample) for f in scan_text("reach ravi.k@example.in or +91 98450 12345; Kumar", needles=["kumar"])}
    assert found == {("email", "ravi.k@example.in"), ("phone", "+91 98450 12345"), ("needle", "kumar")}
