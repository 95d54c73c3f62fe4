-- ref.codes contribution of billing (runs after sql/ref/codes.sql, see hms_pipeline/engine/scripted.py):
-- the billing vocabularies and the fee catalog the legacy data implies, read by sql/billing/*.sql
-- and sql/ddl/096_billing_helpers.sql. Edit these rows to map a new legacy value (no code change);
-- the next run applies them.
--   * map:billing.bill_type: legacy billing.bill_type (free text, Q12; lower case, blanks collapsed)
--     -> invoices.bill_type. NULL is OTHER; an unlisted value is OTHER with a WARN UNMAPPED_VALUE;
--   * map:billing.payment_method: a legacy payment method (billing_payments.method, the ledger's
--     payment_method, pharmacy_bills.payment_method) -> payments.method. 'gpay' is a UPI app;
--     neft/rtgs/bank_transfer/online are bank transfers. 'credit' is not here: it is an amount on
--     account, never a payment (Q20). 'split' and 'other' are not methods (a split bill's methods are
--     on its payment rows): unmapped, the payment loads with method NULL and a WARN;
--   * billing:derived_fee: the fees the legacy data implies but never listed in fee_rates (code ->
--     name). Their codes are their own ('DERIVED.' prefix, never a legacy service name):
--       DERIVED.CONSULTATION        patients.consultation_fee (TEXT on the registration row, Q22);
--       DERIVED.OP_CARD             patients.op_card_amount (the OP registration card);
--       DERIVED.BED_DAY_<BED TYPE>  a day in a bed of that type (bed_allocations.daily_charges; the
--                                   bed's bed_type: general, icu, private, semi_private, emergency;
--                                   UNKNOWN when the bed is not known);
--       DERIVED.ROOM_CHARGES        a discharge header's room charges (billing_summary.subtotal, Q34);
--       DERIVED.PHARMACY_DISPENSING a medicine dispensed or sold (every pharmacy line; the price is
--                                   the item's own, per line);
--       DERIVED.LAB_TEST            a lab test billed under a name the catalog does not list;
--       DERIVED.OTHER_SERVICE       a service or procedure billed under a name the catalog does not list.
--     Their rates (sql/billing/fee_rates.sql) are the prices the legacy rows charged, each effective
--     from the first to the last date it was charged; fees priced per line (pharmacy, lab, other
--     service, room charges) have no rate.
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:billing.bill_type', 'op', 'OP'),
    ('map:billing.bill_type', 'outpatient', 'OP'),
    ('map:billing.bill_type', 'consultation', 'OP'),
    ('map:billing.bill_type', 'doctor_consultation', 'OP'),
    ('map:billing.bill_type', 'pharmacy', 'PHARMACY'),
    ('map:billing.bill_type', 'lab', 'LAB'),
    ('map:billing.bill_type', 'diagnostic', 'LAB'),
    ('map:billing.bill_type', 'radiology', 'RADIOLOGY'),
    ('map:billing.bill_type', 'scan', 'RADIOLOGY'),
    ('map:billing.bill_type', 'xray', 'RADIOLOGY'),
    ('map:billing.bill_type', 'bed_charges', 'IP'),
    ('map:billing.bill_type', 'others', 'OTHER'),
    ('map:billing.bill_type', 'other_bill', 'OTHER'),
    ('map:billing.payment_method', 'cash', 'CASH'),
    ('map:billing.payment_method', 'card', 'CARD'),
    ('map:billing.payment_method', 'upi', 'UPI'),
    ('map:billing.payment_method', 'gpay', 'UPI'),
    ('map:billing.payment_method', 'insurance', 'INSURANCE'),
    ('map:billing.payment_method', 'cheque', 'CHEQUE'),
    ('map:billing.payment_method', 'bank_transfer', 'BANK_TRANSFER'),
    ('map:billing.payment_method', 'neft', 'BANK_TRANSFER'),
    ('map:billing.payment_method', 'rtgs', 'BANK_TRANSFER'),
    ('map:billing.payment_method', 'online', 'BANK_TRANSFER'),
    ('map:billing.payment_method', 'wallet', 'WALLET'),
    ('billing:derived_fee', 'DERIVED.CONSULTATION', 'Consultation (registration)'),
    ('billing:derived_fee', 'DERIVED.OP_CARD', 'OP card'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_GENERAL', 'Bed day, general'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_ICU', 'Bed day, ICU'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_PRIVATE', 'Bed day, private'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_SEMI_PRIVATE', 'Bed day, semi-private'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_EMERGENCY', 'Bed day, emergency'),
    ('billing:derived_fee', 'DERIVED.BED_DAY_UNKNOWN', 'Bed day, bed type unknown'),
    ('billing:derived_fee', 'DERIVED.ROOM_CHARGES', 'Room charges (discharge bill)'),
    ('billing:derived_fee', 'DERIVED.PHARMACY_DISPENSING', 'Pharmacy item'),
    ('billing:derived_fee', 'DERIVED.LAB_TEST', 'Lab test (unlisted)'),
    ('billing:derived_fee', 'DERIVED.OTHER_SERVICE', 'Service (unlisted)')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
