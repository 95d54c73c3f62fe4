"""Time every expectation suite over a populated canonical database.

    python bench/bench_quality.py [URL] [--tables core.patients,clinical.vitals] [--repeat 2]
    python bench/bench_quality.py URL --synthesize 100000   # fill an EMPTY database first
    python bench/bench_quality.py [URL] --scale 100000      # the real backfill, suites inside it

Prints seconds per table (rows, expectations, seconds) and the total; when the database holds a
backfill run (``etl.run_stats``) it also prints that run's engine seconds and the suites' share of
it (the issue's budget: under 20% at ``--scale 100000``). Figures, not pass/fail.

``--scale N`` measures the budget where it applies: it RESETS the database (canonical schemas
dropped, legacy data generated for N patients), runs the real ``phase_backfill`` in-process (the
suites run as its ``expectations`` checks) and prints, from the run's step timings, the seconds of
the suite checks (GX import and context included) next to the seconds of everything else, and the
ratio; then a no-change re-run, where the suites reuse their outcome (fingerprint unchanged).

``--synthesize N`` writes a clinically consistent canonical data set for N patients straight into
the canonical tables (no legacy side, no engine): about 27 rows per patient, 12 of them vitals. It
exists so the suites can be timed before (or independently of) the backfill.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import psycopg
from psycopg import sql

from hms_pipeline import db
from hms_pipeline.sqlrun import apply_ddl
from hms_pipeline.settings import load_settings

# One statement per table; %(n)s = patients, %(s)s = staff (bound by the driver; a bare % is the
# modulo operator, doubled by _bindable). Ids are md5-derived so parents are computed, not looked
# up. Everything is synthetic (no real names, phones or emails).
SYNTH = [
    ("core.facilities", "insert into core.facilities (facility_id, name, timezone) values (md5('fac')::uuid, 'Bench Hospital', 'Asia/Kolkata')"),
    ("core.departments", """insert into core.departments (department_id, facility_id, name, type)
        select md5('dep' || i)::uuid, md5('fac')::uuid, 'Dept ' || t, t
        from unnest(array['OPD','WARD','ER','LAB','PHARMACY','ADMIN']) with ordinality as u(t, i)"""),
    ("core.staff_roles", "insert into core.staff_roles (role_id, name) select md5('role' || i)::uuid, r from unnest(array['Doctor','Nurse','Pharmacist']) with ordinality as u(r, i)"),
    ("core.persons", """insert into core.persons (person_id, first_name, last_name, dob, sex, phone, email)
        select md5('person' || i)::uuid, 'Given' || i, 'Family' || (i % 997), date '1940-01-01' + (i % 29000),
               (array['M','F'])[1 + i % 2], '+91 9' || lpad((i % 1000000000)::text, 9, '0'), 'p' || i || '@example.org'
        from generate_series(1, %(n)s + %(s)s) i"""),
    ("core.patients", "insert into core.patients (patient_id, person_id, uhid) select md5('patient' || i)::uuid, md5('person' || i)::uuid, 'AH2401-' || lpad(i::text, 6, '0') from generate_series(1, %(n)s) i"),
    ("core.staff", """insert into core.staff (staff_id, person_id, department_id, role_id, active_from)
        select md5('staff' || j)::uuid, md5('person' || (%(n)s + j))::uuid, md5('dep' || (1 + j % 6))::uuid, md5('role' || (1 + j % 3))::uuid, now() - interval '5 years'
        from generate_series(1, %(s)s) j"""),
    ("core.users", """insert into core.users (user_id, email, person_id)
        select md5('user' || i)::uuid, 'u' || i || '@example.org', md5('person' || i)::uuid from generate_series(1, %(n)s / 2) i
        union all select md5('suser' || j)::uuid, 's' || j || '@example.org', md5('person' || (%(n)s + j))::uuid from generate_series(1, %(s)s) j"""),
    ("core.staff_schedules", """insert into core.staff_schedules (staff_id, starts_at, ends_at, pattern)
        select md5('staff' || j)::uuid, now() + (k || ' days')::interval, now() + (k || ' days')::interval + interval '8 hours', 'DAY'
        from generate_series(1, %(s)s) j, generate_series(1, 5) k"""),
    ("clinical.encounters", """insert into clinical.encounters (encounter_id, patient_id, type, start_at, end_at, attending_doctor_id, facility_id)
        select md5('enc' || e)::uuid, md5('patient' || (1 + (e - 1) % %(n)s))::uuid,
               case when e % 10 = 0 then 'IPD' when e % 7 = 0 then 'ER' else 'OPD' end,
               now() - e * interval '5 minutes' - interval '2 hours',
               case when e % 10 = 0 and e <= 1500 then null
                    when e % 10 = 0 then now() - e * interval '5 minutes' + interval '3 days'
                    else now() - e * interval '5 minutes' - interval '1 hour' end,
               md5('staff' || (1 + e % %(s)s))::uuid, md5('fac')::uuid
        from generate_series(1, 2 * %(n)s) e"""),
    ("clinical.appointments", """insert into clinical.appointments (appointment_id, patient_id, doctor_id, facility_id, scheduled_at, status)
        select md5('appt' || i)::uuid, md5('patient' || i)::uuid, md5('staff' || (1 + i % %(s)s))::uuid, md5('fac')::uuid,
               now() - ((i % 700) || ' days')::interval, (array['BOOKED','CANCELLED','NO_SHOW','DONE'])[1 + i % 4]
        from generate_series(1, %(n)s) i"""),
    ("clinical.vitals", """insert into clinical.vitals (vital_id, encounter_id, taken_at, kind, value, unit)
        select md5('vit' || e || '-' || k)::uuid, md5('enc' || e)::uuid, now() - ((e % 700) || ' days')::interval - interval '90 minutes',
               (array['heart_rate','temperature','bp_systolic','bp_diastolic','oxygen_saturation','weight'])[k],
               (array[60 + e % 40, 97.5 + (e % 20) / 10.0, 105 + e % 40, 65 + e % 20, 94 + e % 6, 40 + e % 50])[k],
               (array['bpm','°F','mmHg','mmHg','%','kg'])[k]
        from generate_series(1, 2 * %(n)s) e, generate_series(1, 6) k"""),
    ("clinical.allergies", """insert into clinical.allergies (patient_id, code, description, status)
        select md5('patient' || (3 * i))::uuid, 'ALG' || (i % 50), 'allergy ' || (i % 50), 'ACTIVE' from generate_series(1, %(n)s / 3) i"""),
    ("clinical.symptoms", """insert into clinical.symptoms (encounter_id, code, description, severity)
        select md5('enc' || e)::uuid, 'SYM' || (e % 80), 'symptom ' || (e % 80), (array['mild','moderate','severe'])[1 + e % 3]
        from generate_series(1, 2 * %(n)s) e"""),
    ("clinical.medical_history", """insert into clinical.medical_history (patient_id, code, description, recorded_at)
        select md5('patient' || (2 * i))::uuid, 'ICD' || (i % 300), 'condition ' || (i % 300), now() - interval '400 days'
        from generate_series(1, %(n)s / 2) i"""),
    ("clinical.lab_tests", "insert into clinical.lab_tests (test_id, code, name, specimen_type) select md5('test' || i)::uuid, 'LT' || i, 'Test ' || i, 'BLOOD' from generate_series(1, 200) i"),
    ("clinical.lab_orders", """insert into clinical.lab_orders (order_id, encounter_id, ordered_by, ordered_at)
        select md5('ord' || e)::uuid, md5('enc' || e)::uuid, md5('staff' || (1 + e % %(s)s))::uuid, now() - ((e % 700) || ' days')::interval - interval '80 minutes'
        from generate_series(2, 2 * %(n)s, 2) e"""),
    ("clinical.lab_order_items", """insert into clinical.lab_order_items (order_item_id, order_id, test_id, status)
        select md5('oi' || e || '-' || k)::uuid, md5('ord' || e)::uuid, md5('test' || (1 + (e + k) % 200))::uuid, 'RESULTED'
        from generate_series(2, 2 * %(n)s, 2) e, generate_series(1, 2) k"""),
    ("clinical.lab_results", """insert into clinical.lab_results (order_item_id, value, unit, ref_range, result_at, status)
        select md5('oi' || e || '-' || k)::uuid, (4 + e % 5)::text, 'mmol/L', '3.5-5.5', now() - ((e % 700) || ' days')::interval, 'FINAL'
        from generate_series(2, 2 * %(n)s, 2) e, generate_series(1, 2) k"""),
    ("inpatient.wards", "insert into inpatient.wards (ward_id, department_id, facility_id, name) select md5('ward' || w)::uuid, md5('dep2')::uuid, md5('fac')::uuid, 'Ward ' || w from generate_series(1, 10) w"),
    ("inpatient.beds", """insert into inpatient.beds (bed_id, ward_id, label, type, status)
        select md5('bed' || b)::uuid, md5('ward' || (1 + b % 10))::uuid, 'B' || b, 'GENERAL', case when b <= 150 then 'OCCUPIED' else 'AVAILABLE' end
        from generate_series(1, 400) b"""),
    ("inpatient.admissions", """insert into inpatient.admissions (admission_id, encounter_id, admit_at, discharge_at, facility_id)
        select md5('adm' || e)::uuid, e2.encounter_id, e2.start_at, e2.end_at, md5('fac')::uuid
        from generate_series(10, 2 * %(n)s, 10) e join clinical.encounters e2 on e2.encounter_id = md5('enc' || e)::uuid"""),
    ("inpatient.bed_allocations", """insert into inpatient.bed_allocations (admission_id, bed_id, start_at, end_at)
        select admission_id,
               md5('bed' || case when discharge_at is null then 1 + seq % 150 else 151 + seq % 250 end)::uuid,
               admit_at, discharge_at
        from (select a.*, row_number() over (partition by a.discharge_at is null order by a.admit_at) as seq
              from inpatient.admissions a) a"""),
    ("pharmacy.items", "insert into pharmacy.items (item_id, code, name, form, strength) select md5('item' || i)::uuid, 'MED-' || i, 'Drug ' || i, 'TABLET', (i % 7 * 50 + 50) || ' mg' from generate_series(1, 2000) i"),
    ("pharmacy.batches", """insert into pharmacy.batches (batch_id, item_id, batch_no, expiry, initial_qty)
        select md5('batch' || b)::uuid, md5('item' || (1 + b % 2000))::uuid, 'LOT' || b, current_date + 400, 100000 from generate_series(1, 6000) b"""),
    ("pharmacy.prescriptions", """insert into pharmacy.prescriptions (rx_id, encounter_id, prescribed_by, prescribed_at)
        select md5('rx' || e)::uuid, md5('enc' || e)::uuid, md5('staff' || (1 + e % %(s)s))::uuid, now() - ((e % 700) || ' days')::interval - interval '70 minutes'
        from generate_series(1, 2 * %(n)s) e where e % 10 < 7"""),
    ("pharmacy.rx_lines", """insert into pharmacy.rx_lines (rx_line_id, rx_id, item_id, dose, frequency, duration)
        select md5('rxl' || e || '-' || k)::uuid, md5('rx' || e)::uuid, md5('item' || (1 + (e * k) % 2000))::uuid, '1 tab', 'BD', '5 days'
        from generate_series(1, 2 * %(n)s) e, generate_series(1, 2) k where e % 10 < 7"""),
    ("pharmacy.dispenses", """insert into pharmacy.dispenses (dispense_id, rx_line_id, batch_id, qty, dispensed_at, dispensed_by)
        select md5('disp' || e)::uuid, md5('rxl' || e || '-1')::uuid, md5('batch' || (1 + e % 6000))::uuid, 10, now() - ((e % 700) || ' days')::interval, md5('staff' || (1 + e % %(s)s))::uuid
        from generate_series(1, 2 * %(n)s) e where e % 10 < 7"""),
    ("pharmacy.inventory_txns", """insert into pharmacy.inventory_txns (item_id, batch_id, facility_id, txn_type, qty, unit, ref_table, ref_id, occurred_at)
        select md5('item' || (1 + b % 2000))::uuid, md5('batch' || b)::uuid, md5('fac')::uuid, 'GRN', 100000, 'TAB', null, null, now() - interval '800 days'
        from generate_series(1, 6000) b
        union all
        select md5('item' || (1 + (1 + e % 6000) % 2000))::uuid, md5('batch' || (1 + e % 6000))::uuid, md5('fac')::uuid, 'DISPENSE', -10, 'TAB',
               'pharmacy.dispenses', md5('disp' || e)::uuid, now() - ((e % 700) || ' days')::interval
        from generate_series(1, 2 * %(n)s) e where e % 10 < 7"""),
    ("billing.fee_schedules", "insert into billing.fee_schedules (fee_id, department_id, code, name) select md5('fee' || f)::uuid, md5('dep1')::uuid, 'FEE' || f, 'Fee ' || f from generate_series(1, 100) f"),
    ("billing.fee_rates", """insert into billing.fee_rates (fee_id, unit, price, effective_from, effective_to)
        select md5('fee' || f)::uuid, 'PER_SERVICE', 100 + f, date '2020-01-01', date '2023-12-31' from generate_series(1, 100) f
        union all select md5('fee' || f)::uuid, 'PER_SERVICE', 150 + f, date '2024-01-01', null from generate_series(1, 100) f"""),
    ("billing.charges", """insert into billing.charges (charge_id, encounter_id, admission_id, fee_id, qty, unit_price, source_table, source_id)
        select md5('chg' || e)::uuid, md5('enc' || e)::uuid, case when e % 10 = 0 then md5('adm' || e)::uuid end,
               md5('fee' || (1 + e % 100))::uuid, 1, 250, 'clinical.encounters', md5('enc' || e)::uuid
        from generate_series(1, 2 * %(n)s) e"""),
    ("billing.invoices", """insert into billing.invoices (invoice_id, patient_id, encounter_id, status, issued_at, due_amount, paid_amount)
        select md5('inv' || e)::uuid, md5('patient' || (1 + (e - 1) % %(n)s))::uuid, md5('enc' || e)::uuid, 'PAID', now() - ((e % 700) || ' days')::interval, 250, 250
        from generate_series(1, 2 * %(n)s) e"""),
    ("billing.invoice_lines", """insert into billing.invoice_lines (invoice_id, charge_id, description, amount)
        select md5('inv' || e)::uuid, md5('chg' || e)::uuid, 'Consultation', 250 from generate_series(1, 2 * %(n)s) e"""),
    ("billing.payments", """insert into billing.payments (invoice_id, method, amount, received_at)
        select md5('inv' || e)::uuid, (array['CASH','CARD','UPI'])[1 + e % 3], 250, now() - ((e % 700) || ' days')::interval
        from generate_series(1, 2 * %(n)s) e"""),
    ("ops.attachments", """insert into ops.attachments (owner_table, owner_id, url, mime)
        select 'clinical.encounters', md5('enc' || e)::uuid, 'file:///store/' || e || '.pdf', 'application/pdf' from generate_series(1, %(n)s / 5) e"""),
    ("ref.codes", "insert into ref.codes (code, system, display) select 'C' || i, 'LOCAL', 'Code ' || i from generate_series(1, 1000) i"),
]


def _bindable(statement: str) -> str:
    return re.sub(r"%(?!\()", "%%", statement)


def synthesize(url: str, patients: int) -> None:
    staff = max(20, patients // 200)
    with psycopg.connect(url) as conn:
        apply_ddl(conn)
        if conn.execute("select exists (select 1 from core.patients)").fetchone()[0]:
            sys.exit("bench_quality: --synthesize needs an empty canonical database (core.patients has rows)")
        total = time.monotonic()
        for table, statement in SYNTH:
            started = time.monotonic()
            n = conn.execute(_bindable(statement), {"n": patients, "s": staff}).rowcount
            print(f"  synthesized {table:28s} {n:>10,} rows in {time.monotonic() - started:6.1f}s", flush=True)
        conn.commit()
        conn.autocommit = True
        conn.execute("vacuum analyze")
        print(f"  synthesis done in {time.monotonic() - total:.1f}s", flush=True)


def backfill_seconds(url: str) -> tuple[str, float] | None:
    with psycopg.connect(url) as conn:
        if not conn.execute("select to_regclass('etl.run_stats') is not null").fetchone()[0]:
            return None
        row = conn.execute("""select run_id, sum(seconds) from etl.run_stats
                              group by run_id order by max(recorded_at) desc limit 1""").fetchone()
    return (row[0], float(row[1])) if row else None


def _check_step_seconds(instance, run_id: str) -> tuple[dict[str, float], float]:
    """Seconds of each step of a run: (suite check steps by table, every other step summed)."""
    import dagster as dg

    suite_steps: dict[str, str] = {}
    for rec in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records:
        ev = rec.event_log_entry.dagster_event
        if ev.event_specific_data.check_name == "expectations":
            suite_steps[ev.step_key] = ".".join(ev.event_specific_data.asset_key.path)
    suites: dict[str, float] = {}
    other = 0.0
    for st in instance.get_run_step_stats(run_id):
        seconds = (st.end_time or st.start_time or 0) - (st.start_time or 0)
        if st.step_key in suite_steps:
            suites[suite_steps[st.step_key]] = seconds
        else:
            other += seconds
    return suites, other


def backfill_budget(url: str, scale: str | int, *, profile: str = "blueprint", seed: int = 42,
                    out=sys.stdout) -> dict[str, float]:
    """Generate legacy data at ``scale`` into ``url`` (reset first), run the backfill phase with its
    suite checks, print suite seconds next to backfill seconds and their ratio. Returns the figures."""
    import os

    import dagster as dg

    from hms_pipeline.legacy.generator import generate

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists core, clinical, inpatient, pharmacy, billing, ops, ref, view, stg, etl cascade")
    with psycopg.connect(url) as conn:
        apply_ddl(conn)
    print(f"generating legacy data at scale {scale} ...", file=out, flush=True)
    started = time.monotonic()
    generate(url, scale=scale, seed=seed, profile=profile)
    print(f"  generated in {time.monotonic() - started:.1f}s", file=out, flush=True)

    os.environ["HMS_DATABASE_URL"] = url
    from hms_pipeline.definitions import defs

    job = defs.resolve_job_def("phase_backfill")
    figures: dict[str, float] = {}
    # 1: the full backfill (the budget); 2: a re-run with no legacy change: suites whose fingerprint
    # was taken before later steps of run 1 wrote (every pipeline write counts) run once more;
    # 3: the steady state of a no-change delta: every suite reuses its outcome.
    for label in ("full", "no change", "no change again"):
        instance = dg.DagsterInstance.ephemeral()
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        wall = time.monotonic() - started
        suites, other = _check_step_seconds(instance, result.run_id)
        evals = {".".join(e.asset_key.path): e for e in result.get_asset_check_evaluations()
                 if e.check_name == "expectations"}
        total = sum(suites.values())
        print(f"{label} run: {'suite check':30s} {'step s':>8} {'GX s':>8}  outcome", file=out)
        for t, s in sorted(suites.items(), key=lambda kv: -kv[1]):
            e = evals.get(t)
            reused = e is not None and "reused_from_run" in e.metadata
            gx = "-" if reused or e is None or "seconds" not in e.metadata else f"{e.metadata['seconds'].value:.2f}"
            print(f"{'':{len(label) + 5}}{t:30s} {s:>8.2f} {gx:>8}  {'reused' if reused else 'ran'}", file=out)
        ratio = total / other if other else float("nan")
        budget = " (budget: under 20%)" if label == "full" else ""
        print(f"backfill ({label}) at scale {scale}: run {wall:.1f}s wall; suites {total:.1f}s "
              f"next to backfill {other:.1f}s (every other step) = {100 * ratio:.1f}%{budget}; "
              f"success={result.success}", file=out, flush=True)
        figures[f"{label}:suites"] = total
        figures[f"{label}:backfill"] = other
        figures[f"{label}:ratio"] = ratio
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", nargs="?", help="canonical database URL (default: from the settings)")
    p.add_argument("--synthesize", type=int, metavar="PATIENTS", help="first fill an empty database")
    p.add_argument("--scale", help="reset the database, generate legacy data for this many patients (or "
                   "tiny|demo|large), run the real backfill and print the suites' share of it")
    p.add_argument("--profile", default="blueprint", choices=["blueprint", "live"])
    p.add_argument("--tables", help="comma-separated subset (default: every suite)")
    p.add_argument("--repeat", type=int, default=1, help="run the suites N times, report the last (warm) run")
    args = p.parse_args(argv)
    url = args.url or db.canonical_url(load_settings())
    if args.scale:
        backfill_budget(url, int(args.scale) if args.scale.isdigit() else args.scale, profile=args.profile)
        return 0
    if args.synthesize:
        synthesize(url, args.synthesize)

    started = time.monotonic()
    from hms_pipeline.quality.gx_runner import run_suite, runner_for
    from hms_pipeline.quality.suites import load_all_suites

    suites = load_all_suites()
    runner_for(url)
    setup = time.monotonic() - started
    tables = args.tables.split(",") if args.tables else list(suites)

    with psycopg.connect(url) as conn:
        rows = {t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(*t.split(".")))).fetchone()[0]
                for t in tables}

    print(f"GX import + suite loading + context: {setup:.2f}s")
    print(f"{'table':30s} {'rows':>10} {'expect.':>8} {'failed':>7} {'seconds':>8}")
    total = 0.0
    for t in tables:
        for _ in range(args.repeat):
            outcome = run_suite(url, t, suites[t])
        total += outcome.seconds
        failed = outcome.counts()["failed"]
        print(f"{t:30s} {rows[t]:>10,} {len(outcome.expectations):>8} {failed:>7} {outcome.seconds:>8.2f}", flush=True)
    print(f"{'total':30s} {sum(rows.values()):>10,} {'':>8} {'':>7} {total:>8.2f}")
    backfill = backfill_seconds(url)
    if backfill:
        run_id, seconds = backfill
        print(f"backfill run {run_id}: {seconds:.1f}s in the engine; suites = {100 * total / seconds:.1f}% of it "
              "(budget: under 20%)")
    else:
        print("no backfill run in etl.run_stats: compare the total with the backfill's time at the same scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())
