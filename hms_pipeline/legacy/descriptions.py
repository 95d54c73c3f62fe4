"""Plain-language descriptions of the legacy relations, for the Dagster catalog.

The notes in ``FIXTURE_CONTRACT.md`` are written for readers of the 2026-02-15 database audit and its
source documents: they cite source tags, quirk numbers, appendix items, migration timestamps and the
contract's own decision numbers. :data:`PLAIN` says the same things for a data engineer who never read
the audit: what one row is and what the hospital uses it for, how the application uses it, and its
known quirks. :func:`plain_description` puts that text first and keeps the original note underneath.

Every text is checked by ``tests/test_legacy_descriptions.py``: one per relation of the contract
(``payment_ledger`` included), no audit shorthand, 60 to 700 characters, one to four sentences. The
texts describe structure and behaviour only; they never contain data values.
"""

from __future__ import annotations

PLAIN: dict[str, str] = {
    "ref_code": (
        "One row per coded value of a shared lookup list (a domain such as appointment status, bed type, "
        "payment method or unit, with its code, label and active flag); other tables point at it through "
        "*_id columns instead of storing the text. The app reads it to fill pick lists and inserts new codes. "
        "Part of the app still looks codes up by code_type and code_value, columns that do not exist, so "
        "those lookups find nothing and most appointment and encounter status and type ids stay empty. "
        "The pharmacy billing code also hard-codes the id of the medicine line-type row, valid only in this database."
    ),
    "users": (
        "One row per login account of the hospital application: staff of every role (doctors, nurses, "
        "pharmacists, admins and others) and also patients who log in, told apart by role. The app reads it "
        "to resolve who is acting and writes it when accounts are created or edited. Patient accounts carry "
        "the hospital patient number in employee_id and a made-up e-mail built from it, department is free "
        "text, and permissions is a JSON blob of on/off flags. auth_id and party_id point at tables outside "
        "this database (the sign-in service and a party register), so they have no foreign keys."
    ),
    "departments": (
        "One row per hospital department (name, description, location, phone, head of department, status); "
        "beds and staff point at it. The app reads it for department pick lists and inserts new departments. "
        "All its columns are confirmed in the live database; the code and is_active columns that some older "
        "documents and ineffective migration scripts mention do not exist."
    ),
    "staff": (
        "One row per employee record (name, contact, department, role, hire date, payroll numbers such as the "
        "provident-fund and state-insurance numbers), separate from the login accounts in users. The app reads "
        "it for staff pick lists and self-billing and writes it from staff management. role is title-case "
        "free text ('Doctor' is the only known value) with no constraint, and user_id links to users without "
        "a foreign key. The table was dropped in a schema cleanup, losing its 13 rows, and re-created later; "
        "the lost rows exist only in backups."
    ),
    "doctors": (
        "One row per doctor profile: licence, specialization, qualification, consultation fee, room, "
        "availability and display order; the doctor's name is not here but in users. The app reads it for "
        "every doctor pick list and writes it from doctor management. user_id has no foreign key because "
        "newer rows hold the user's sign-in id (users.auth_id) and older rows hold users.id, so match on both. "
        "availability_hours is a JSON blob (sessions, working days and hours, floor, even the department), "
        "and 5 of the 21 live columns are undocumented."
    ),
    "patients": (
        "One row per registered patient, keyed by the hospital patient number in patient_id; the wide row "
        "mixes demographics, contacts, guardian, clinical free text (allergies, history, symptoms, diagnosis), "
        "vitals, admission and payment fields. It is the app's busiest table, read and written by "
        "registration, outpatient, admission and billing screens. Vitals and amounts are stored as text, "
        "missing e-mails and names were filled with values made up from the patient number, and "
        "admission_type defaults to 'outpatient', so it doubles as the outpatient/inpatient flag. Of the 88 "
        "live columns 71 are modelled; undocumented discharge, lab and X-ray column groups and a QR code are left out."
    ),
    "encounter": (
        "One row per patient encounter (a visit or episode of care) with patient, clinician, department, "
        "type, status and start/end time; each appointment hangs off exactly one encounter. The app inserts "
        "encounters when booking appointments, and the lab, scan and inpatient prescribing pages also create "
        "placeholder encounters with only the patient and start time. type_id, status_id and clinician_id "
        "are mostly empty (some early rows hold type ids matching no code), and start_at on the booking path "
        "is local time stored with no time-zone offset. There is no status or chief complaint column, and "
        "some code writes a non-existent started_at."
    ),
    "appointment": (
        "One row per booked appointment (scheduled time, duration, status id, booking method), hanging "
        "one-to-one off an encounter. The app reads and writes it from the booking screens; the plural "
        "appointments view shows the same rows. scheduled_at is built from a local date and time with no "
        "time-zone offset, status_id is mostly empty, and there is no text status or notes column. "
        "booking_method exists only because the app's insert sends it (no CREATE TABLE statement names it), "
        "so its type is assumed to be text."
    ),
    "appointments": (
        "A live view showing the rows of appointment under the old plural name (select * from appointment); "
        "it holds no data of its own, so never migrate it or appointments are counted twice. The original "
        "appointments table, with separate date, time and text status columns, was dropped in a schema "
        "cleanup and its 11 rows were lost. The app still reads and writes this name with the old columns "
        "(appointment_date, status, patient_id and more), which the view does not have, so most of those calls fail."
    ),
    "patient_visits": (
        "A visit table from the application's original design (visit date and time, type, symptoms, "
        "complaints) that was never created in the live database. Nothing reads or writes it: visits are "
        "recorded as encounters, so map encounter instead. Its appointment_id pointed at the old appointments "
        "table, now a view, so it has no foreign key; the test fixture creates it empty."
    ),
    "vitals": (
        "One row per set of vital signs taken for a patient in an encounter (blood pressure, heart rate, "
        "temperature, breathing rate, oxygen saturation, weight, height, pain score, glucose); only 2 rows "
        "exist. The app reads it on patient screens and writes it through its vitals service. The temperature "
        "unit is not stored, and recorded_by silently falls back to any doctor or admin user when the real "
        "recorder is unknown. Most outpatient vitals are kept as text on patients instead, and inpatient "
        "vitals in a separate table outside this source."
    ),
    "patient_allergies": (
        "Meant to hold one row per recorded allergy of a patient (allergen, reaction, severity); it is empty. "
        "The app's medical history service reads it and nothing writes it: real allergy information, drug "
        "allergies included, is free text in patients.allergies. It was missing from the live database at the "
        "audit and re-created on 2026-02-15 from a CREATE TABLE statement that is not in the application's "
        "code, so its columns are inferred from what the code reads."
    ),
    "patient_symptoms": (
        "Meant to hold one row per symptom recorded for a patient (symptom name, severity, onset date); it is "
        "empty. The app's medical history service reads it and nothing writes it: real symptoms are free text in "
        "patients.initial_symptoms and patients.primary_complaint. It was missing from the live database at "
        "the audit and re-created on 2026-02-15 with no CREATE TABLE statement in the application's code; "
        "severity is text, not a 1-10 number."
    ),
    "medical_history": (
        "Meant to hold one row per past or ongoing condition of a patient (condition, diagnosis date, status, "
        "severity, treatment, doctor name as free text); it exists live with 0 rows. The app reads it per "
        "patient, and its writes send history-event columns (event_type, event_name, event_date and others) "
        "that this table does not have, which is why it stays empty. Real history is free text in "
        "patients.medical_history."
    ),
    "lab_tests": (
        "A catalog of lab tests (code, name, category, sample type, normal range, unit, price, turnaround "
        "time); it had 0 rows and was dropped on 2026-02-15. The app no longer uses it: the live test catalog "
        "is lab_test_catalog, outside this source. It is kept only so the pipeline can show it migrates "
        "nothing from it."
    ),
    "lab_reports": (
        "Meant to hold one row per lab report of a patient, with results and normal ranges as JSON blobs whose "
        "structure is undocumented; it had 0 rows and was dropped on 2026-02-15. The app no longer uses it: "
        "real lab data is in lab_test_orders and lab_test_results, outside this source. test_name is free "
        "text, not a link to a test catalog."
    ),
    "lab_result_value": (
        "Meant to hold one row per measured value of a lab report (parameter, value as text, unit, normal "
        "range, abnormal flag); it had 0 rows at the audit (one document once reported 6) and was dropped on "
        "2026-02-15. The app no longer uses it; migrate nothing from it."
    ),
    "medications": (
        "The drug master: one row per drug or stock item the pharmacy sells (names, manufacturer, form, "
        "strength, prices, tax rates, stock levels). The app reads and writes it from pharmacy, prescribing "
        "and billing screens and updates its stock counters after each sale. Its three stock counters "
        "disagree with each other and with batch quantities, one drug can appear twice under two code "
        "schemes, strength is often only in the name, and manufacturer spellings vary. mrp, unit_price, unit, "
        "schedule and stock_quantity may be absent live, and medicine_code is only an app alias of medication_code."
    ),
    "medicines": (
        "A live view showing the rows of medications under the old name medicines (select * from "
        "medications); it holds no data of its own, so never migrate it or drugs are counted twice. The app "
        "reads it on a few drug search screens and never writes it. An earlier real medicines table, which "
        "was organised around batches, is gone; medicine_batches.medicine_id once pointed at it and must now "
        "be resolved against medications."
    ),
    "medications_backup": (
        "A backup copy of the drug master that was left in production and dropped on 2026-02-15; its 465 rows "
        "repeat medications rows with the same ids and codes. The app does not use it, and migrations must "
        "exclude it or drugs are counted twice. Its real shape was never documented, so it is modelled as a "
        "plain copy of the medications columns with no keys, constraints or defaults."
    ),
    "medicine_batches": (
        "One row per received batch of a drug (batch number, expiry, received and current quantity, purchase "
        "and selling price, supplier); its current quantities are the best source of stock on hand. The app "
        "reads it for stock and billing and updates current_quantity after each sale. A batch points at its "
        "drug through medicine_id, medication_id or both, neither with a foreign key, and both hold "
        "medications ids. Quantities are in packs for batches received before 2026-02-27 and in units after, "
        "while prices are always per pack."
    ),
    "stock_transactions": (
        "The stock movement ledger: one row per purchase, sale, issue, adjustment or return of a drug (type, "
        "quantity, price, batch number, reference); its 66 rows touch only a few batches. The app inserts a "
        "row for most stock changes and reads it for stock history. The sign of quantity is inconsistent "
        "(some sales are positive), total_amount is 0 on rows before 2026-02-17, the batch is linked only by "
        "its free-text number, and purchase or bill references sit inside notes. The transaction type has had "
        "no constraint since 2026-03-22, and code writes three columns that do not exist."
    ),
    "pharmacy_stock_transactions": (
        "An older name for the stock movement ledger, with the same columns as stock_transactions; it never "
        "existed in the live database and is empty. No CREATE TABLE statement for it exists anywhere: only "
        "the app's code referred to it, and that code was switched to stock_transactions on 2026-02-15. Map "
        "it together with stock_transactions."
    ),
    "prescriptions": (
        "One row per prescription a doctor writes for a patient (prescription number, date, diagnosis, "
        "instructions, status), linked to the encounter; its drug lines are in prescription_items. The app "
        "creates prescriptions three different ways (a database function, the inpatient form and the "
        "consultation service) and reads them on doctor and pharmacy screens. appointment_id can point at "
        "nothing, since its foreign key was dropped with the old appointments table; issue_date is a date "
        "only, status has no fixed list, and the prescription number is partly random."
    ),
    "prescription_items": (
        "One drug line of a prescription: drug, dose, frequency, duration, quantity, price, status, dispensed "
        "quantity and billing acknowledgement. The app writes lines when prescribing and updates them when "
        "the pharmacy dispenses and bills. Dose, frequency and duration are free text (for example '5 days'), "
        "instructions may carry the meal timing appended after ' | ', and medication_name is a copied name "
        "beside medication_id. The billing acknowledgement columns were added on 2026-01-18."
    ),
    "prescription_dispensed": (
        "Meant to hold one row per dispensing of a prescription (who dispensed it, when, amount, payment "
        "status), with its drug lines in prescription_dispensed_items; it had 0 rows and was dropped on "
        "2026-02-15. The app no longer uses it. An older flat design with one drug name per row is not modelled."
    ),
    "prescription_dispensed_items": (
        "Meant to hold one row per drug given out in a prescription_dispensed record (drug, quantity, price, "
        "batch number); it had 0 rows and was dropped on 2026-02-15. The app no longer uses it; migrate "
        "nothing from it."
    ),
    "prescription_dispensing": (
        "One row per dispensing of a prescribed drug (prescription, drug, quantity prescribed and dispensed, "
        "who, when, status). The app's dispense action inserts rows with status 'complete' and inpatient and "
        "pharmacy screens read them, so the row count is unknown. It was missing at the audit and re-created "
        "on 2026-02-15 from a CREATE TABLE statement that is not in the application's code; its columns and "
        "types are inferred from the code, and no constraints are documented."
    ),
    "pharmacy_bills": (
        "One row per bill of the stand-alone pharmacy billing form (bill number, patient or walk-in buyer, "
        "subtotal, discounts, taxes, total, payment); only 2 rows exist. The app writes it from that form and "
        "reads it in pharmacy reports, but real pharmacy revenue is in billing with bill_type 'pharmacy'. The "
        "total is total_amount, discounts and taxes are stored several redundant ways, walk-in bills have no "
        "patient_id but a copy of the buyer's details, and payment_method can be 'upi', outside its documented "
        "list. An earlier table of this name was dropped in a schema cleanup, losing 9 rows."
    ),
    "pharmacy_bill_items": (
        "One drug line of a pharmacy_bills bill (drug, batch, expiry, quantity, price, total); only 2 rows "
        "exist. The app inserts lines from the pharmacy billing form and reads them per bill. Each link has "
        "two spellings written by different code: the bill is bill_id or billing_id, the drug is medicine_id "
        "or medication_id (both hold medications ids), and the total is total_amount or total_price, so read "
        "both of each pair. One of the 15 documented columns does not exist live, and which one is unknown."
    ),
    "pharmacy_billing": (
        "An older name for pharmacy bill headers, with columns mirroring pharmacy_bills; it never existed in "
        "the live database and is empty. No CREATE TABLE statement for it exists: its shape comes from the "
        "app's code, which was switched to pharmacy_bills on 2026-02-15. Migrate nothing from it."
    ),
    "pharmacy_billing_items": (
        "An older name for pharmacy bill lines (drug, batch, quantity, price); it never existed in the live "
        "database and is empty. No CREATE TABLE statement for it exists: its shape comes from the app's code, "
        "which now writes pharmacy_bill_items, and billing_id is added as the parent key the billing form sent."
    ),
    "fee_categories": (
        "One row per category of hospital fee (name, description, active flag); fee_rates hang off it. The "
        "app reads it when pricing services and never writes it. The 6 live rows differ from the 10 seed "
        "categories of its only CREATE TABLE script, so do not build expectations from that seed."
    ),
    "fee_rates": (
        "One row per priced service within a fee category (service name, rate per unit, unit type such as per "
        "service, per day, per hour or per item). The app reads it to price services and never writes it. "
        "unit_type is not enforced by a constraint, deleting a category deletes its rates, and the 14 live "
        "rows differ from the 16 seed rates of its creation script."
    ),
    "beds": (
        "One row per hospital bed (number, room, floor, department, type, daily rate, status, features). The "
        "app reads it for ward views and updates its status when beds are allocated and freed. Older "
        "documents speak of 120 beds but only 12 exist, and an hourly_rate column from a migration script "
        "that never took effect does not exist."
    ),
    "bed_allocations": (
        "One row per stay of a patient in a bed, which is how the app records inpatient admissions (inpatient "
        "number, dates, type, reason, status, daily and total charges). The app creates, transfers and "
        "discharges admissions through it: a transfer closes one row and opens another, and discharge or "
        "transfer text overwrites reason. ip_number has two formats, admission_type holds values outside both "
        "documented lists, admission and discharge dates are local times with no time-zone offset, and the "
        "code probes at runtime for optional columns that do not exist."
    ),
    "patient_admissions": (
        "Meant to hold one row per inpatient admission with diagnosis, treatment and discharge notes, stay "
        "length and charges, but the real admissions are in bed_allocations. The app's discharge flow inserts "
        "and updates it without a transaction, so an attempted discharge can leave rows here with no bill "
        "lines, and the row count is unknown. It was missing at the audit and re-created on 2026-02-15 with "
        "no CREATE TABLE statement in the application's code; total_stay_days is a plain number here."
    ),
    "billing_summary": (
        "Meant to hold one discharge bill header per inpatient admission (bill number, date, subtotal, tax, "
        "discount, total, payment). The app's discharge flow inserts it, and an attempted discharge can leave "
        "headers here with no lines, so the row count is unknown. It was missing at the audit and re-created "
        "on 2026-02-15 with no CREATE TABLE statement in the application's code; an older billing_summaries "
        "table is a different thing."
    ),
    "billing": (
        "One row per bill header across the hospital (outpatient, pharmacy, lab, radiology and inpatient, told "
        "apart by bill_type); lines are in billing_item and payments in billing_payments. It is the main "
        "revenue table, read and written by every billing screen. The bill total is in total (there is no "
        "total_amount), a bill number may sit "
        "in bill_no, bill_number or both, discounts and taxes are stored several redundant ways, and doctor_id "
        "holds a staff id, so it has no foreign key. Four columns were added after the audit with no CREATE "
        "TABLE statement, and amount_paid leaves out on-account ('credit') payments."
    ),
    "billing_item": (
        "One line of a billing bill: a service, test or drug with quantity, unit amount and total. The app "
        "inserts lines from the billing screens and reads them per bill. ref_id points at a prescription "
        "item, a lab order or another record depending on the line, so it has no foreign key; medicine_id "
        "holds medications ids without one; description is the free-text item name; external drugs have "
        "batch_number 'EXTERNAL' and no batch. The medicine line type is a hard-coded id, and some code reads "
        "bill_id, unit_price and quantity, which do not exist."
    ),
    "billing_items": (
        "A live view showing the rows of billing_item under the plural name (select * from billing_item); it "
        "holds no data of its own, so never migrate it or bill lines are counted twice. The app's discharge "
        "billing inserts service lines (admission, fee rate, service name, rate, date) into it, columns the "
        "view does not have, so those inserts fail. An older plural table of this name was dropped, empty, in "
        "a schema cleanup."
    ),
    "billing_payments": (
        "One row per payment received against a billing bill (amount, method, reference, time, receiver). The "
        "app inserts payments from the billing screens and reads them per bill. It breaks its documented "
        "rules: refunds can be negative amounts, 'credit' appears as a method, billing_id and received_by "
        "have no foreign keys, and inserts that send a non-existent received_at column fail silently, so a "
        "bill's amount_paid may not match the sum of its payments. Its rows were copied into payment_ledger "
        "on 2026-02-15, so migrate either one, not both."
    ),
    "payment_ledger": (
        "The consolidated payment ledger: one row per payment (source type and id, patient, date, amount, "
        "method, reference, receipt number, taxes), 142 rows backfilled on 2026-02-15 from billing_payments "
        "and three payment tables outside this source. It exists only in the live database, as the table "
        "behind the payment_history view, and the app reaches it only through that view. Its rows repeat "
        "their sources, so migrate either the ledger or the sources, never both; source_id of the outside "
        "sources resolves to nothing here."
    ),
    "payment_history": (
        "A live view showing the rows of payment_ledger under the old name payment_history (select * from "
        "payment_ledger); it holds no data of its own, so never migrate it. The old payment_history table had "
        "0 rows and was dropped on 2026-02-15. The app reads it in one place, filtering on a bill_id column "
        "the view does not have, so that read fails; nothing writes it."
    ),
}


def plain_description(name: str, audit_note: str | None) -> str:
    """The catalog description of legacy relation ``name``: the plain text of :data:`PLAIN`, then,
    when there is one, the original contract note under "Source audit note:"."""
    try:
        text = PLAIN[name]
    except KeyError:
        raise KeyError(f"{name!r} has no plain description in hms_pipeline.legacy.descriptions.PLAIN") from None
    note = (audit_note or "").strip()
    return f"{text}\n\nSource audit note: {note}" if note else text
