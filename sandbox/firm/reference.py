"""The firm's fixed catalogue: legal entities, practices, roles, accounts, names and phrases.

Everything here is constant; :mod:`sandbox.firm.model` draws from it with a seeded generator.
Money is in minor units (cents, pence) of the entity's currency.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """A legal entity: one ERP subsidiary, one HCM company, one CRM ``Legal_Entity__c`` value."""

    code: str
    name: str
    country: str
    country_name: str
    city: str
    currency: str
    currency_name: str
    currency_symbol: str
    time_zone: str
    # Bill and cost rates are set in USD and scaled into the entity's currency.
    rate_factor: float
    share: float
    email_domain: str
    account_suffixes: tuple[str, ...]
    subsidiary_id: int
    currency_id: int
    location_id: int
    cash_account_id: int
    exchange_rate: float


ENTITIES: tuple[Entity, ...] = (
    Entity(
        code="US01",
        name="Northwind Advisory Inc.",
        country="US",
        country_name="United States",
        city="New York",
        currency="USD",
        currency_name="US Dollar",
        currency_symbol="$",
        time_zone="America/New_York",
        rate_factor=1.0,
        share=0.5,
        email_domain="us.northwind-advisory.example",
        account_suffixes=("Inc.", "LLC", "Corp.", "Co."),
        subsidiary_id=2,
        currency_id=1,
        location_id=1,
        cash_account_id=1000,
        exchange_rate=1.0,
    ),
    Entity(
        code="UK01",
        name="Northwind Advisory Ltd",
        country="GB",
        country_name="United Kingdom",
        city="London",
        currency="GBP",
        currency_name="British Pound",
        currency_symbol="£",
        time_zone="Europe/London",
        rate_factor=0.78,
        share=0.3,
        email_domain="uk.northwind-advisory.example",
        account_suffixes=("Ltd", "plc", "Group Ltd", "LLP"),
        subsidiary_id=3,
        currency_id=2,
        location_id=2,
        cash_account_id=1001,
        exchange_rate=1.27,
    ),
    Entity(
        code="AU01",
        name="Northwind Advisory Pty Ltd",
        country="AU",
        country_name="Australia",
        city="Sydney",
        currency="AUD",
        currency_name="Australian Dollar",
        currency_symbol="$",
        time_zone="Australia/Sydney",
        rate_factor=1.5,
        share=0.2,
        email_domain="au.northwind-advisory.example",
        account_suffixes=("Pty Ltd", "Limited", "Group Pty Ltd"),
        subsidiary_id=4,
        currency_id=3,
        location_id=3,
        cash_account_id=1002,
        exchange_rate=0.66,
    ),
)

PARENT_SUBSIDIARY = (1, "Northwind Group (Consolidated)")
KANTATA_ACCOUNT_ID = "9001"
RECEIPT_THRESHOLD_CENTS = 7500


@dataclass(frozen=True)
class Practice:
    """A practice (department, ERP class and service item share its id)."""

    id: int
    key: str
    name: str
    stories: tuple[str, ...]
    notes: tuple[str, ...]


PRACTICES: tuple[Practice, ...] = (
    Practice(
        1,
        "STRAT",
        "Strategy",
        (
            "Current state assessment",
            "Market sizing",
            "Operating model design",
            "Executive workshops",
            "Business case",
            "Roadmap and transition plan",
        ),
        (
            "Interview notes write-up",
            "Steering committee deck",
            "Workshop facilitation",
            "Competitor scan",
            "Synthesis of stakeholder input",
            "Revised financial model",
        ),
    ),
    Practice(
        2,
        "TECH",
        "Technology",
        (
            "Solution architecture",
            "Data migration",
            "Integration build",
            "System testing",
            "Cutover planning",
            "Hypercare",
        ),
        (
            "Mapping spec review",
            "Defect triage with client team",
            "Sprint planning",
            "Interface build and unit test",
            "Environment refresh",
            "Test script execution",
        ),
    ),
    Practice(
        3,
        "FIN",
        "Finance Advisory",
        (
            "Close process review",
            "Chart of accounts redesign",
            "Controls testing",
            "Management reporting",
            "Forecast model",
            "Audit readiness",
        ),
        (
            "Reconciliation walkthrough",
            "Journal sample testing",
            "Variance analysis",
            "Controls matrix update",
            "Reporting pack draft",
            "Meeting with the controller",
        ),
    ),
    Practice(
        4,
        "OPS",
        "Operations",
        (
            "Process mapping",
            "Procurement review",
            "Lean diagnostics",
            "Supply chain design",
            "KPI framework",
            "Implementation support",
        ),
        (
            "Site visit and observations",
            "Process map revisions",
            "Supplier data analysis",
            "Time and motion study",
            "Improvement backlog grooming",
            "Weekly status report",
        ),
    ),
    Practice(
        5,
        "DATA",
        "Data and Analytics",
        (
            "Data discovery",
            "Data model design",
            "Dashboard build",
            "Pipeline engineering",
            "Data quality rules",
            "Analytics enablement",
        ),
        (
            "Source profiling",
            "Dashboard iteration with users",
            "SQL transformation work",
            "Data quality checks",
            "Pipeline code review",
            "Metric definitions session",
        ),
    ),
)

# Every workspace has these stories besides the practice's: project management is billable,
# internal coordination is not (so every team logs some non-billable time).
COMMON_STORIES = ("Project management", "Internal coordination")
COMMON_NOTES = (
    "Client status call",
    "Internal team sync",
    "Planning for next week",
    "Documentation",
    "Follow-up actions",
    "",
)


@dataclass(frozen=True)
class Role:
    """A Kantata role / Workday job profile with its standard USD bill and cost rates per hour."""

    id: int
    name: str
    bill_cents: int
    cost_cents: int
    weight: float
    # The working day of a role, in quarter hours (7h-10h for delivery staff).
    day_units: tuple[int, int]


ROLES: tuple[Role, ...] = (
    Role(1001, "Analyst", 15000, 5500, 0.18, (28, 40)),
    Role(1002, "Consultant", 19500, 7000, 0.28, (28, 40)),
    Role(1003, "Senior Consultant", 24000, 9000, 0.24, (28, 40)),
    Role(1004, "Manager", 29000, 11000, 0.15, (26, 38)),
    Role(1005, "Senior Manager", 34000, 13000, 0.09, (24, 36)),
    Role(1006, "Director", 42000, 16500, 0.06, (16, 32)),
)
MANAGER_ROLES = frozenset({1004, 1005, 1006})

BILLING_MODELS: tuple[tuple[str, float], ...] = (
    ("T&M", 0.5),
    ("Fixed Fee", 0.25),
    ("Milestone", 0.15),
    ("Retainer", 0.1),
)
NETSUITE_BILLING_TYPES = {
    "T&M": ("TM", "Time and Materials"),
    "Fixed Fee": ("FBI", "Fixed Bid, Interval"),
    "Milestone": ("FBM", "Fixed Bid, Milestone"),
    "Retainer": ("CB", "Charge-Based"),
}
PAYMENT_TERMS: tuple[tuple[str, int, int, float], ...] = (
    # (label, days, NetSuite term id, weight)
    ("Net 30", 30, 2, 0.6),
    ("Net 45", 45, 3, 0.25),
    ("Net 60", 60, 4, 0.15),
)

OPEN_STAGES: tuple[tuple[str, int], ...] = (
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Value Proposition", 50),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
)


@dataclass(frozen=True)
class ExpenseCategory:
    """An expense category (PSA and ERP share the name) with a typical USD amount range."""

    id: int
    name: str
    account_id: int
    amount_cents: tuple[int, int]
    weight: float
    notes: tuple[str, ...]


EXPENSE_CATEGORIES: tuple[ExpenseCategory, ...] = (
    ExpenseCategory(
        1,
        "Airfare",
        6100,
        (18000, 140000),
        0.08,
        ("Return flight to client site", "Flight change fee"),
    ),
    ExpenseCategory(2, "Lodging", 6110, (14000, 42000), 0.12, ("Hotel near client office",)),
    ExpenseCategory(
        3, "Meals", 6120, (1200, 9500), 0.34, ("Team lunch on site", "Dinner while travelling")
    ),
    ExpenseCategory(
        4,
        "Ground Transportation",
        6130,
        (1500, 12000),
        0.22,
        ("Taxi to client office", "Train to client site", "Airport transfer"),
    ),
    ExpenseCategory(5, "Mileage", 6140, (1000, 8000), 0.1, ("Mileage for client visit",)),
    ExpenseCategory(
        6, "Client Entertainment", 6200, (6000, 40000), 0.04, ("Client dinner after workshop",)
    ),
    ExpenseCategory(7, "Software and Subscriptions", 6300, (1000, 30000), 0.05, ("Survey tool",)),
    ExpenseCategory(8, "Office Supplies", 6400, (500, 6000), 0.05, ("Workshop materials",)),
)


@dataclass(frozen=True)
class GLAccount:
    """A general-ledger account of the chart shared by every subsidiary."""

    id: int
    number: str
    name: str
    type_id: str
    type_name: str


GL_ACCOUNTS: tuple[GLAccount, ...] = (
    GLAccount(1000, "1000", "Cash - Operating USD", "Bank", "Bank"),
    GLAccount(1001, "1001", "Cash - Operating GBP", "Bank", "Bank"),
    GLAccount(1002, "1002", "Cash - Operating AUD", "Bank", "Bank"),
    GLAccount(1200, "1200", "Accounts Receivable", "AcctRec", "Accounts Receivable"),
    GLAccount(1250, "1250", "Unbilled Receivables (WIP)", "OthCurrAsset", "Other Current Asset"),
    GLAccount(2000, "2000", "Accounts Payable", "AcctPay", "Accounts Payable"),
    GLAccount(
        2100,
        "2100",
        "Accrued Payroll - Labour Cost Clearing",
        "OthCurrLiab",
        "Other Current Liability",
    ),
    GLAccount(2150, "2150", "Employee Expenses Payable", "OthCurrLiab", "Other Current Liability"),
    GLAccount(2300, "2300", "Deferred Revenue", "DeferRevenue", "Deferred Revenue"),
    GLAccount(4000, "4000", "Professional Services Revenue - T&M", "Income", "Income"),
    GLAccount(4010, "4010", "Professional Services Revenue - Fixed Fee", "Income", "Income"),
    GLAccount(4020, "4020", "Professional Services Revenue - Retainer", "Income", "Income"),
    GLAccount(4100, "4100", "Reimbursable Expense Revenue", "Income", "Income"),
    GLAccount(4900, "4900", "Discounts and Credits", "Income", "Income"),
    GLAccount(5000, "5000", "Direct Labour Cost", "COGS", "Cost of Goods Sold"),
    GLAccount(5100, "5100", "Billable Expenses", "COGS", "Cost of Goods Sold"),
    *(
        GLAccount(
            c.account_id, str(c.account_id), f"Travel and Expenses - {c.name}", "Expense", "Expense"
        )
        for c in EXPENSE_CATEGORIES
    ),
)
REVENUE_ACCOUNT = {"T&M": 4000, "Fixed Fee": 4010, "Milestone": 4010, "Retainer": 4020}
EXPENSE_ITEM_ID = 90

FIRST_NAMES = {
    "US": (
        "Ada",
        "Ben",
        "Carmen",
        "Darnell",
        "Elena",
        "Frank",
        "Grace",
        "Hector",
        "Isabel",
        "Jamal",
        "Kayla",
        "Luis",
        "Maya",
        "Nathan",
        "Olivia",
        "Priya",
        "Quentin",
        "Rosa",
        "Samuel",
        "Tanya",
        "Victor",
        "Wendy",
        "Xavier",
        "Yasmin",
        "Zachary",
        "Aiko",
        "Brandon",
        "Chloe",
        "Diego",
        "Emily",
        "José",
        "Mei",
        "Raj",
        "Sofia",
        "Tyrone",
        "Valentina",
    ),
    "GB": (
        "Alfie",
        "Amelia",
        "Callum",
        "Charlotte",
        "Declan",
        "Eleanor",
        "Finley",
        "Georgia",
        "Harry",
        "Imogen",
        "Jack",
        "Keira",
        "Liam",
        "Megan",
        "Niamh",
        "Oliver",
        "Poppy",
        "Rhys",
        "Siobhan",
        "Thomas",
        "Zoë",
        "Aisha",
        "Bartek",
        "Chidi",
        "Fatima",
        "Hamza",
        "Ioana",
        "Kwame",
        "Lucía",
        "Mohammed",
        "Nikhil",
        "Sinéad",
    ),
    "AU": (
        "Archie",
        "Bella",
        "Cooper",
        "Daisy",
        "Ethan",
        "Frankie",
        "Harper",
        "Isla",
        "Jarrah",
        "Kirra",
        "Lachlan",
        "Matilda",
        "Noah",
        "Ruby",
        "Tahlia",
        "Willow",
        "Anh",
        "Bao",
        "Chen",
        "Dimitri",
        "Giulia",
        "Hiroshi",
        "Jin",
        "Mai",
        "Nikos",
        "Sanjay",
        "Thi",
    ),
}
LAST_NAMES = {
    "US": (
        "Anderson",
        "Brooks",
        "Chen",
        "Diaz",
        "Evans",
        "Foster",
        "Garcia",
        "Hughes",
        "Ibarra",
        "Johnson",
        "Kim",
        "Lopez",
        "Martinez",
        "Nguyen",
        "Okafor",
        "Patel",
        "Quinn",
        "Ramirez",
        "Singh",
        "Thompson",
        "Usman",
        "Vasquez",
        "Washington",
        "Young",
        "Zhang",
        "Bianchi",
        "Cohen",
        "Delgado",
        "Fitzgerald",
        "Goldberg",
        "Hernández",
        "Jackson",
        "Kowalski",
    ),
    "GB": (
        "Ahmed",
        "Baker",
        "Campbell",
        "Davies",
        "Edwards",
        "Fletcher",
        "Griffiths",
        "Hall",
        "Iqbal",
        "Jones",
        "Khan",
        "Lewis",
        "Murphy",
        "Nowak",
        "O'Brien",
        "Patel",
        "Roberts",
        "Shaw",
        "Taylor",
        "Walsh",
        "Wright",
        "Adeyemi",
        "Begum",
        "Clarke",
        "Doyle",
        "Evans",
        "Hussain",
        "MacLeod",
        "Morgan",
        "Price",
    ),
    "AU": (
        "Anderson",
        "Brown",
        "Campbell",
        "Doherty",
        "Edwards",
        "Fraser",
        "Gallagher",
        "Harris",
        "Kelly",
        "Le",
        "Martin",
        "Nguyen",
        "O'Connor",
        "Papadopoulos",
        "Russo",
        "Smith",
        "Tran",
        "Walker",
        "White",
        "Wilson",
        "Wong",
        "Kaur",
        "Lim",
        "Murray",
        "Ryan",
    ),
}

COMPANY_WORDS = (
    "Harbor",
    "Kestrel",
    "Granite",
    "Summit",
    "Bluewater",
    "Ironbark",
    "Meridian",
    "Northgate",
    "Redwood",
    "Silverline",
    "Crescent",
    "Oakfield",
    "Pinnacle",
    "Riverside",
    "Stonebridge",
    "Tidewater",
    "Westbrook",
    "Aurora",
    "Beacon",
    "Cobalt",
    "Driftwood",
    "Evergreen",
    "Falcon",
    "Horizon",
    "Juniper",
    "Lakeshore",
    "Maple",
    "Orchard",
    "Pioneer",
    "Quarry",
    "Sterling",
    "Thornbury",
    "Union",
    "Vantage",
    "Willow",
    "Yarra",
    "Zenith",
    "Ashford",
    "Brightwater",
    "Cedar",
    "Dunmore",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Highland",
    "Kingsley",
    "Larkspur",
    "Moorland",
    "Newhaven",
    "Oxley",
    "Pembroke",
    "Rosehill",
    "Seaview",
    "Tamarind",
    "Upland",
)
COMPANY_QUALIFIERS = (
    "",
    "",
    "",
    "Group",
    "Partners",
    "Holdings",
    "Global",
    "International",
    "National",
    "United",
    "Consolidated",
    "Regional",
)
INDUSTRY_NOUNS = {
    "Financial Services": ("Capital", "Bank", "Insurance", "Wealth", "Credit Union"),
    "Healthcare": ("Health", "Medical", "Care", "Pharma", "Clinics"),
    "Manufacturing": ("Manufacturing", "Industries", "Components", "Engineering", "Foundry"),
    "Retail": ("Retail", "Stores", "Outfitters", "Markets", "Brands"),
    "Technology": ("Software", "Systems", "Networks", "Digital", "Labs"),
    "Energy": ("Energy", "Power", "Utilities", "Resources", "Renewables"),
    "Transportation": ("Logistics", "Freight", "Airlines", "Shipping", "Transit"),
    "Education": ("University", "Learning", "Academy", "College", "Education"),
    "Media": ("Media", "Publishing", "Studios", "Broadcasting", "Press"),
    "Government": ("Council", "Authority", "Agency", "Department", "Commission"),
}
CITIES = {
    "US": ("New York", "Boston", "Chicago", "Atlanta", "Denver", "Seattle", "Austin", "Charlotte"),
    "GB": ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Edinburgh"),
    "AU": ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra"),
}
PROJECT_SUFFIXES = {
    "STRAT": (
        "Growth Strategy",
        "Operating Model Review",
        "Market Entry Study",
        "Cost Transformation",
    ),
    "TECH": ("ERP Implementation", "CRM Rollout", "Cloud Migration", "Integration Platform"),
    "FIN": (
        "Close Acceleration",
        "Finance Transformation",
        "Controls Remediation",
        "FP&A Redesign",
    ),
    "OPS": ("Procurement Excellence", "Supply Chain Redesign", "Lean Programme", "Shared Services"),
    "DATA": ("Data Platform", "Analytics Roadmap", "Reporting Modernisation", "Data Governance"),
}
SALES_REPS = 8

# Planted text: valid time entries whose notes stress quoting and encoding (expected: accepted).
HOSTILE_NOTES = (
    "Workshop notes'; DROP TABLE x; --",
    "Scope at 100% complete; 20% contingency left in C:\\Clients\\Q4",
    "Robert'); DELETE FROM time_entries WHERE '1'='1'; -- \\N %s %%",
)
NON_LATIN_NOTES = (
    "要件定義ワークショップの準備と議事録作成",
    "مراجعة متطلبات العميل مع فريق المشروع",
    "Sprint review 🚀 demo for the client ✅🎉",
)
# Planted malformed values: (field, value as stored, what it should have been like).
MALFORMED_VALUES = (
    ("date_performed", "{year}-{month:02d}-32"),
    ("time_in_minutes", "ninety"),
    ("date_performed", "{day:02d}/{month:02d}/{year}"),
)
