"""Word lists for the synthetic legacy data (fake, Indian-style). Bound to the generator's SQL as
``text[]`` parameters; the SQL picks from them with a hash of (seed, tag, row), so the lists' order
is part of the data: append, never reorder, or every checksum changes."""

from __future__ import annotations

FIRST_NAMES_M = [
    "Aarav", "Vihaan", "Arjun", "Sai", "Reyansh", "Ayaan", "Krishna", "Ishaan", "Rohan", "Aditya",
    "Rahul", "Vikram", "Suresh", "Ramesh", "Mahesh", "Ganesh", "Rajesh", "Anil", "Sunil", "Manoj",
    "Karthik", "Pranav", "Harish", "Naveen", "Prakash", "Senthil", "Murugan", "Venkatesh", "Balaji",
    "Siddharth", "Abdul", "Imran", "Joseph", "Thomas", "Gurpreet", "Harpreet", "Deepak", "Vijay",
]
FIRST_NAMES_F = [
    "Aadhya", "Ananya", "Diya", "Saanvi", "Priya", "Lakshmi", "Kavya", "Meena", "Divya", "Pooja",
    "Sneha", "Anjali", "Deepa", "Radha", "Sita", "Geetha", "Revathi", "Kalpana", "Sunita", "Asha",
    "Nandini", "Shalini", "Bhavani", "Malar", "Selvi", "Fathima", "Ayesha", "Mary", "Jasleen",
    "Harini", "Swathi", "Vidya", "Padma", "Usha", "Rekha", "Shanthi",
]
LAST_NAMES = [
    "Kumar", "Sharma", "Reddy", "Iyer", "Nair", "Pillai", "Menon", "Rao", "Naidu", "Patel", "Shah",
    "Gupta", "Singh", "Verma", "Das", "Banerjee", "Mukherjee", "Chatterjee", "Krishnan", "Subramanian",
    "Raman", "Srinivasan", "Venkataraman", "Gowda", "Shetty", "Hegde", "Joshi", "Kulkarni", "Deshpande",
    "Khan", "Ahmed", "Fernandes", "D'Souza", "Gill", "Sandhu", "Murugesan", "Sundaram", "Balasubramanian",
]
# (city, state, pincode prefix)
CITIES = [
    "Chennai", "Coimbatore", "Madurai", "Tiruchirappalli", "Salem", "Vellore", "Bengaluru", "Hyderabad",
    "Kochi", "Thiruvananthapuram", "Mumbai", "Pune", "Delhi", "Kolkata", "Tirunelveli", "Erode",
]
STATES = [
    "Tamil Nadu", "Tamil Nadu", "Tamil Nadu", "Tamil Nadu", "Tamil Nadu", "Tamil Nadu", "Karnataka",
    "Telangana", "Kerala", "Kerala", "Maharashtra", "Maharashtra", "Delhi", "West Bengal", "Tamil Nadu",
    "Tamil Nadu",
]
STREETS = [
    "Gandhi Road", "Nehru Street", "Anna Salai", "MG Road", "Kamaraj Nagar", "Periyar Street",
    "Main Road", "Temple Street", "Bazaar Street", "Church Road", "Station Road", "Lake View Road",
    "2nd Cross", "4th Main", "Rajaji Nagar", "Indira Nagar",
]
RELATIONS = ["Father", "Mother", "Spouse", "Son", "Daughter", "Brother", "Sister", "Guardian"]
BLOOD_GROUPS = ["A+", "A-", "B+", "B-", "O+", "O-", "AB+", "AB-", "O +ve", "B+ve"]
ALLERGIES = [
    "NKDA", "No known allergies", "Penicillin", "Sulfa drugs", "Aspirin", "Dust", "Peanuts",
    "Penicillin, Amoxicillin", "Ibuprofen (rash)", "Seafood", "Nil", "Latex",
]
SYMPTOMS = [
    "Fever", "Cough", "Headache", "Abdominal pain", "Chest pain", "Breathlessness", "Vomiting",
    "Giddiness", "Body ache", "Joint pain", "Burning micturition", "Loose stools", "Cold and sneezing",
]
CONDITIONS = [
    "Type 2 diabetes mellitus", "Hypertension", "Bronchial asthma", "Hypothyroidism", "CAD",
    "CKD stage 3", "Dyslipidemia", "Migraine", "GERD", "Osteoarthritis knee", "Anaemia", "COPD",
]
DIAGNOSES = [
    "Viral fever", "Acute gastroenteritis", "URTI", "UTI", "Dengue fever (suspected)", "Hypertension",
    "Type 2 DM - uncontrolled", "Acute bronchitis", "Lumbar spondylosis", "Migraine", "Typhoid fever",
    "Cellulitis left leg", "Allergic rhinitis", "Iron deficiency anaemia",
]
SPECIALIZATIONS = [
    "General Medicine", "Cardiology", "Orthopaedics", "Paediatrics", "Obstetrics & Gynaecology",
    "General Surgery", "Dermatology", "ENT", "Ophthalmology", "Neurology", "Nephrology", "Pulmonology",
    "Psychiatry", "Diabetology", "Anaesthesiology",
]
QUALIFICATIONS = ["MBBS", "MBBS, MD", "MBBS, MS", "MBBS, DNB", "MBBS, MD, DM", "MBBS, DCH", "MBBS, DGO"]
DEPARTMENTS = [
    "General Medicine", "Cardiology", "Orthopaedics", "Paediatrics", "Obstetrics & Gynaecology",
    "General Surgery", "Dermatology", "ENT", "Ophthalmology", "Neurology", "Nephrology", "Pulmonology",
    "Psychiatry", "Emergency", "ICU", "Radiology", "Laboratory", "Pharmacy", "Billing",
    "Administration", "Physiotherapy", "Dental", "Dietetics",
]
STAFF_ROLES = [  # staff.role is title-case free text (contract vocab)
    "Doctor", "Nurse", "Staff Nurse", "Pharmacist", "Receptionist", "Lab Technician", "Accountant",
    "Admin", "Ward Boy", "Radiographer",
]
USER_STAFF_ROLES = ["nurse", "admin", "pharmacist", "technician", "receptionist", "accountant"]

# Drug master: a canonical drug is (stem, strength, form); see gen SQL medications.sql.
DRUG_STEMS = [
    "Dolo", "Crocin", "Calpol", "Azithral", "Augmentin", "Amoxyclav", "Cifran", "Ciplox", "Norflox",
    "Metrogyl", "Pan", "Pantocid", "Rantac", "Omez", "Razo", "Zinetac", "Allegra", "Montair", "Levocet",
    "Cetzine", "Avil", "Ascoril", "Benadryl", "Grilinctus", "Glycomet", "Janumet", "Galvus", "Amaryl",
    "Glimestar", "Istamet", "Telma", "Amlong", "Stamlo", "Losar", "Cardace", "Concor", "Metolar",
    "Atorva", "Rosuvas", "Ecosprin", "Clopilet", "Acitrom", "Thyronorm", "Eltroxin", "Shelcal",
    "Calcirol", "Becosules", "Neurobion", "Limcee", "Zincovit", "Combiflam", "Brufen", "Voveran",
    "Zerodol", "Ultracet", "Tramazac", "Cerom", "Carvil", "Deriphyllin", "Asthalin", "Budecort",
    "Duolin", "Foracort", "Seroflo", "Wysolone", "Omnacortil", "Dexona", "Emeset", "Ondem", "Domstal",
    "Perinorm", "Cyclopam", "Buscopan", "Sporlac", "Econorm", "Vizylac", "Liv 52", "Udiliv", "Duphalac",
    "Cremaffin", "Lasix", "Dytor", "Aldactone", "Nexpro", "Esoz", "Taxim", "Monocef", "Ceftum",
    "Zifi", "Cefakind", "Oflox", "Zanocin", "Levoflox", "Doxy", "Linid", "Fluconazole", "Candid",
    "Betadine", "Soframycin", "Neosporin", "Mupirocin", "Lulifin", "Clotrimazole", "Evion", "Folvite",
    "Dexorange", "Orofer", "Livogen", "Feronia", "Gabapin", "Pregaba", "Nervz", "Sertima", "Nexito",
    "Alprax", "Restyl", "Clonotril", "Valparin", "Eptoin", "Levipil", "Stugeron", "Vertin", "Meftal",
    "Drotin", "Spasmo", "Ciplar", "Cilacar", "Prolomet", "Nebicard", "Ivabrad", "Sorbitrate",
    "Isolazine",
]
STRENGTHS = ["250mg", "500mg", "650mg", "5mg", "10mg", "20mg", "40mg", "2mg", "3.125", "100mg"]
DOSAGE_FORMS = ["Tablet", "Capsule", "Syrup", "Injection", "Ointment", "Drops"]
FORM_ABBREV = ["Tab", "Cap", "Syp", "Inj", "Oint", "Drops"]
GENERICS = [
    "Paracetamol", "Azithromycin", "Amoxicillin + Clavulanic acid", "Ciprofloxacin", "Metronidazole",
    "Pantoprazole", "Ranitidine", "Omeprazole", "Fexofenadine", "Montelukast", "Levocetirizine",
    "Metformin", "Glimepiride", "Telmisartan", "Amlodipine", "Losartan", "Atorvastatin", "Aspirin",
    "Clopidogrel", "Acenocoumarol", "Levothyroxine", "Calcium + Vitamin D3", "Ibuprofen", "Diclofenac",
    "Tramadol", "Cefuroxime", "Carvedilol", "Salbutamol", "Budesonide", "Prednisolone", "Ondansetron",
    "Domperidone", "Furosemide", "Cefixime", "Ofloxacin", "Fluconazole", "Folic acid", "Ferrous ascorbate",
    "Pregabalin", "Alprazolam",
]
# manufacturer canonical names; index-aligned variants are in MANUFACTURER_VARIANTS
MANUFACTURERS = [
    "Cipla", "Mankind", "Ipca", "Dr.Reddy's", "Sun Pharma", "Lupin", "Alkem", "Micro Labs", "Torrent",
    "Zydus", "Glenmark", "Abbott", "GSK", "Intas", "Macleods",
]
MANUFACTURER_VARIANTS = [
    "cipla|Ciplal|CIPLA", "mankind|Mankind Pharma", "ipca|Ipca Laboratories", "Dr.Redyy's|Dr Reddys",
    "sun pharma|Sun", "lupin|LUPIN", "alkem|Alkem Labs", "micro labs|Microlabs", "torrent|Torrent Pharma",
    "zydus|Zydus Cadila", "glenmark|Glenmark Pharma", "abbott|Abbot", "gsk|GlaxoSmithKline", "intas|INTAS",
    "macleods|Mcleods",
]
MEDICINE_CATEGORIES = ["Antibiotic", "Analgesic", "Antacid", "Antidiabetic", "Antihypertensive",
                       "Antihistamine", "Vitamin", "Cardiac", "Respiratory", "CNS"]
SUPPLIERS = ["Sri Balaji Pharma Distributors", "Medplus Wholesale", "Apollo Pharma Supply",
             "KMC Medicals", "Lakshmi Agencies", "Sree Murugan Drug House"]

# Lab: (test name, analytes "name:unit:lo:hi" separated by ';') -- analytes per report come from here
LAB_PANELS = [
    ("Complete Blood Count", "Haemoglobin:g/dL:12:17;WBC:cells/uL:4000:11000;Platelets:lakh/uL:1.5:4.5;"
                             "RBC:million/uL:4.2:5.9;PCV:%:36:50;MCV:fL:80:100"),
    ("Lipid Profile", "Total Cholesterol:mg/dL:120:200;Triglycerides:mg/dL:50:150;HDL:mg/dL:40:60;"
                      "LDL:mg/dL:50:130;VLDL:mg/dL:5:40"),
    ("Liver Function Test", "Total Bilirubin:mg/dL:0.2:1.2;Direct Bilirubin:mg/dL:0:0.3;SGOT:IU/L:5:40;"
                            "SGPT:IU/L:7:56;Alkaline Phosphatase:IU/L:44:147;Albumin:g/dL:3.5:5"),
    ("Renal Function Test", "Urea:mg/dL:15:40;Creatinine:mg/dL:0.6:1.3;Uric Acid:mg/dL:3.5:7.2;"
                            "Sodium:mmol/L:135:145;Potassium:mmol/L:3.5:5.1"),
    ("Blood Sugar", "FBS:mg/dL:70:110;PPBS:mg/dL:90:140"),
    ("HbA1c", "HbA1c:%:4:5.6"),
    ("Thyroid Profile", "T3:ng/dL:80:200;T4:ug/dL:5:12;TSH:uIU/mL:0.4:4.5"),
    ("Urine Routine", "Specific Gravity::1.005:1.03;pH::4.5:8;Pus Cells:/hpf:0:5;RBC:/hpf:0:2"),
]
UNPARSEABLE_RESULTS = ["NIL", "+++", "Trace", "see comment", "haemolysed", "<>", "12..5", "N/A"]
UNPARSEABLE_VITALS = ["NA", "-", "normal", "98.6F", "120/80", "nil", "?", "12O", "not taken"]
FREQUENCIES = ["08:00, 20:00 (2x daily)", "08:00, 14:00, 20:00 (3x daily)", "08:00 (1x daily)",
               "20:00 (1x daily)", "As directed", "SOS", "1-0-1", "1-1-1"]
MEAL_TIMING = ["after food", "before food", "with food", "empty stomach"]
UNKNOWN_STATUSES = ["on hold", "Closed", "unknown", "void", "NA", "done?", "Hold "]
DISCHARGE_REASONS = ["Discharged in stable condition", "Discharged against medical advice",
                     "Transferred to ICU", "Shifted to ward", "Referred to higher centre"]
ADMISSION_REASONS = ["Fever with chills", "Chest pain evaluation", "Acute gastroenteritis", "Post-op care",
                     "Dengue fever", "Uncontrolled diabetes", "Road traffic accident", "Delivery"]
FEE_CATEGORIES = ["Consultation", "Room Charges", "Nursing", "Procedures", "Laboratory", "Radiology"]
# (category index 1-based, service, rate, unit_type)
FEE_RATES = [
    (1, "OP Consultation", 500, "per_service"), (1, "Specialist Consultation", 800, "per_service"),
    (1, "Emergency Consultation", 1000, "per_service"), (2, "General Ward", 1500, "per_day"),
    (2, "Semi Private Room", 3000, "per_day"), (2, "Private Room", 5000, "per_day"),
    (2, "ICU", 9000, "per_day"), (3, "Nursing Care", 600, "per_day"), (3, "Injection Charges", 50, "per_item"),
    (4, "Dressing", 300, "per_service"), (4, "Minor Procedure", 2500, "per_service"),
    (5, "CBC", 350, "per_service"), (6, "X-Ray Chest PA", 450, "per_service"),
    (6, "Ultrasound Abdomen", 1200, "per_service"),
]

# --- hostile profile (generator.HOSTILE_PROFILES): names and values the real system's history holds.
# Full names are "<first> <last>"; one-word and honorific-only names are whole values.
TAMIL_NAMES = [
    "முருகன் சுப்பிரமணியம்", "லட்சுமி நாராயணன்", "கார்த்திக் ராஜா", "செல்வி முத்து", "அருண் குமார்",
    "பவானி சுந்தரம்", "சரவணன் பழனி", "மீனாட்சி ராமன்",
]
DEVANAGARI_NAMES = [
    "राहुल शर्मा", "प्रिया गुप्ता", "अनिल कुमार", "सुनीता देवी", "विक्रम सिंह", "अंजलि वर्मा", "दीपक जोशी",
    "पूजा पटेल",
]
# accented names as stored (NFC); the generator writes some of them in NFD (decomposed)
ACCENTED_NAMES = [
    "José Fernandes", "Zoë D'Souza", "Renée Mathew", "Amélie Pinto", "Chloé Lobo", "Śrīnivāsan Rāo",
    "Ananyā Kṛṣṇan", "Françoise Menezes",
]
ONE_WORD_NAMES = ["Murugan", "Lakshmi", "Selvi", "Ramasamy", "Bhavani", "Kannan", "Ponni", "Velu"]
HONORIFICS = ["Mr.", "Mrs.", "Ms.", "Dr.", "Smt.", "Shri", "Thiru.", "Baby", "Master", "Kumari"]
