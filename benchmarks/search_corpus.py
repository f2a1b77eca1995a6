"""A deterministic wiki corpus for search evaluation: metric definitions, policies, incident notes
and table pages — with synonyms and near-duplicates — plus questions with their expected page.

`build_corpus(extra)` returns ~210 pages (and `extra` generated filler pages for latency runs);
`QUERIES` pairs ≥ 60 questions, phrased the way people ask, with the one page that answers them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    key: str
    summary: str
    body: str
    tags: tuple[str, ...] = ()


# --- hand-written pages that queries target (each with a near-duplicate or distractor nearby) ---

METRICS = [
    (
        "mrr",
        "Monthly recurring revenue (MRR)",
        "Sum of the normalised monthly subscription fee of all active subscriptions on the last day of the month. Annual plans count as one twelfth. One-off services and usage overages are excluded.",
        ("finance", "saas"),
    ),
    (
        "arr",
        "Annual recurring revenue (ARR)",
        "Twelve times MRR at the end of the period. Used for board reporting; never sum ARR across months.",
        ("finance", "saas"),
    ),
    (
        "net-revenue",
        "Net revenue",
        "Gross order value minus refunds, chargebacks, discounts and sales tax. This is the revenue number finance reports.",
        ("finance",),
    ),
    (
        "gross-revenue",
        "Gross revenue",
        "Total order value at checkout before refunds, discounts and tax. Marketing uses it for campaign reporting; finance does not.",
        ("finance",),
    ),
    (
        "gross-margin",
        "Gross margin",
        "Net revenue minus cost of goods sold, divided by net revenue. Shipping costs are part of cost of goods sold.",
        ("finance",),
    ),
    (
        "contribution-margin",
        "Contribution margin",
        "Net revenue minus variable costs (COGS, payment fees, fulfilment and paid acquisition) per order.",
        ("finance",),
    ),
    (
        "nrr",
        "Net revenue retention (NRR)",
        "Recurring revenue this month from customers who were paying twelve months ago, including expansion, contraction and churn, divided by their recurring revenue then.",
        ("saas", "retention"),
    ),
    (
        "grr",
        "Gross revenue retention (GRR)",
        "Like net revenue retention but expansion is ignored, so it can never exceed 100 percent.",
        ("saas", "retention"),
    ),
    (
        "logo-churn",
        "Logo churn rate",
        "Share of paying customer accounts at the start of the month that cancelled during the month, regardless of their size.",
        ("retention",),
    ),
    (
        "revenue-churn",
        "Revenue churn rate",
        "Recurring revenue lost from cancellations and downgrades during the month divided by recurring revenue at the start of the month.",
        ("retention",),
    ),
    (
        "cac",
        "Customer acquisition cost (CAC)",
        "Sales and marketing spend in a quarter divided by the number of new paying customers acquired in that quarter.",
        ("growth",),
    ),
    (
        "ltv",
        "Customer lifetime value (LTV)",
        "Average monthly gross margin per customer divided by monthly logo churn. Compare with CAC: LTV to CAC should stay above three.",
        ("growth",),
    ),
    (
        "aov",
        "Average order value (AOV)",
        "Net revenue divided by the number of completed orders. Orders with zero value (replacements) are excluded.",
        ("ecommerce",),
    ),
    (
        "conversion-rate",
        "Checkout conversion rate",
        "Completed orders divided by sessions that reached the cart page. Bot sessions are filtered out first.",
        ("ecommerce", "web"),
    ),
    (
        "dau",
        "Daily active users (DAU)",
        "Distinct users with at least one meaningful event (login does not count) in a UTC calendar day.",
        ("product",),
    ),
    (
        "mau",
        "Monthly active users (MAU)",
        "Distinct users active on at least one day in a trailing 28-day window, not a calendar month.",
        ("product",),
    ),
    (
        "stickiness",
        "Stickiness (DAU/MAU)",
        "Average daily active users over the month divided by monthly active users; a proxy for habit.",
        ("product",),
    ),
    (
        "refund-rate",
        "Refund rate",
        "Refunded order value divided by gross order value in the month the order was placed, not the month of the refund.",
        ("finance", "ecommerce"),
    ),
    (
        "nps",
        "Net promoter score (NPS)",
        "Percentage of promoters (9-10) minus percentage of detractors (0-6) from the quarterly in-app survey.",
        ("customer",),
    ),
    (
        "csat",
        "Customer satisfaction score (CSAT)",
        "Share of support tickets rated 4 or 5 out of 5 after resolution.",
        ("customer", "support"),
    ),
    (
        "first-response-time",
        "First response time",
        "Median minutes from ticket creation to the first human reply, counted in business hours only.",
        ("support",),
    ),
    (
        "ticket-backlog",
        "Support ticket backlog",
        "Number of open tickets older than 48 hours at 9am each weekday.",
        ("support",),
    ),
    (
        "inventory-turnover",
        "Inventory turnover",
        "Cost of goods sold over the year divided by average inventory value.",
        ("operations",),
    ),
    (
        "fulfilment-time",
        "Order fulfilment time",
        "Hours from payment capture to the carrier scan, excluding weekends.",
        ("operations",),
    ),
    (
        "on-time-delivery",
        "On-time delivery rate",
        "Share of shipments delivered by the promised date shown at checkout.",
        ("operations",),
    ),
    (
        "trial-conversion",
        "Trial to paid conversion",
        "Share of free trials that start a paid subscription within 14 days of the trial ending.",
        ("saas", "growth"),
    ),
    (
        "activation-rate",
        "Activation rate",
        "Share of new signups who create a project and invite a teammate within seven days.",
        ("product", "growth"),
    ),
    (
        "payback-period",
        "CAC payback period",
        "Months of gross margin from a new customer needed to recover their acquisition cost.",
        ("growth", "finance"),
    ),
    (
        "burn-multiple",
        "Burn multiple",
        "Net cash burned in a quarter divided by net new ARR added in that quarter.",
        ("finance",),
    ),
    (
        "expansion-revenue",
        "Expansion revenue",
        "Recurring revenue added from upgrades, extra seats and add-ons by existing customers.",
        ("saas",),
    ),
]

POLICIES = [
    (
        "data-retention",
        "Data retention policy",
        "Raw event data is kept for 25 months; personal data of closed accounts is deleted 90 days after closure.",
        ("policy", "privacy"),
    ),
    (
        "pii-handling",
        "Handling personal data (PII)",
        "Email addresses, phone numbers and street addresses are PII. Never export them to spreadsheets; query them only through the masked views.",
        ("policy", "privacy"),
    ),
    (
        "fiscal-calendar",
        "Fiscal calendar",
        "The fiscal year starts on February 1. Fiscal quarters follow a 4-4-5 week pattern.",
        ("policy", "finance"),
    ),
    (
        "timezone-convention",
        "Timezone convention",
        "All timestamps in the warehouse are stored in UTC. Reports for the European team convert to Europe/Berlin at the end.",
        ("policy",),
    ),
    (
        "currency-conversion",
        "Currency conversion",
        "Amounts are converted to EUR with the daily ECB reference rate of the order date, not the payment date.",
        ("policy", "finance"),
    ),
    (
        "refund-policy",
        "Customer refund policy",
        "Customers can ask for a refund within 30 days of delivery; refunds are issued to the original payment method within five business days.",
        ("policy", "customer"),
    ),
    (
        "test-accounts",
        "Excluding test and internal accounts",
        "Accounts with an email at our own domain or the is_test flag set are excluded from every metric.",
        ("policy",),
    ),
    (
        "metric-ownership",
        "Who owns which metric",
        "Finance owns revenue metrics, growth owns acquisition metrics, product owns engagement metrics.",
        ("policy",),
    ),
    (
        "dashboard-certification",
        "Certified dashboards",
        "A certified dashboard is reviewed by the data team every quarter and shows a green badge.",
        ("policy",),
    ),
    (
        "access-requests",
        "Requesting warehouse access",
        "Ask in the data-help channel; access to finance schemas needs approval from the controller.",
        ("policy",),
    ),
    (
        "sla-data-freshness",
        "Data freshness SLA",
        "Core tables are refreshed hourly; finance marts once a day at 06:00 UTC.",
        ("policy",),
    ),
    (
        "naming-conventions",
        "Table naming conventions",
        "Staging tables start with stg_, facts with fct_, dimensions with dim_. Columns ending in _at are timestamps.",
        ("policy",),
    ),
]

TABLES = [
    (
        "orders-table",
        "fct_orders: one row per order",
        "The orders fact table has one row per order, with order_id, customer_id, status (paid, pending, refunded, cancelled), gross_amount and net_amount.",
        ("table",),
    ),
    (
        "order-items-table",
        "fct_order_items: one row per line item",
        "One row per product line on an order: order_id, product_id, quantity, unit_price. Joining it to orders multiplies order-level amounts.",
        ("table",),
    ),
    (
        "customers-table",
        "dim_customers: one row per customer account",
        "Customer accounts with signup date, country, segment (SMB, mid-market, enterprise) and the acquisition channel.",
        ("table",),
    ),
    (
        "subscriptions-table",
        "fct_subscriptions: one row per subscription period",
        "Each subscription change creates a new period row with plan, seats, monthly fee and valid_from / valid_to.",
        ("table", "saas"),
    ),
    (
        "invoices-table",
        "fct_invoices: one row per invoice",
        "Invoices issued by the billing system with amount due, amount paid, currency and due date.",
        ("table", "finance"),
    ),
    (
        "refunds-table",
        "fct_refunds: refunds and chargebacks",
        "One row per refund or chargeback, with the original order_id, reason code and refunded amount.",
        ("table", "finance"),
    ),
    (
        "events-table",
        "fct_events: product analytics events",
        "Every tracked product event with user_id, event name, properties JSON and occurred_at in UTC.",
        ("table", "product"),
    ),
    (
        "sessions-table",
        "fct_sessions: web sessions",
        "Web sessions stitched from page views with 30 minutes of inactivity as the boundary; bots flagged.",
        ("table", "web"),
    ),
    (
        "tickets-table",
        "fct_support_tickets",
        "Support tickets from the help desk with priority, channel, first_response_at and satisfaction rating.",
        ("table", "support"),
    ),
    (
        "products-table",
        "dim_products: product catalogue",
        "Products with SKU, category, cost price and list price. Discontinued products keep their rows.",
        ("table",),
    ),
    (
        "marketing-spend-table",
        "fct_marketing_spend: daily ad spend",
        "Daily spend per channel and campaign, loaded from the ad platforms; used for CAC.",
        ("table", "growth"),
    ),
    (
        "shipments-table",
        "fct_shipments: carrier shipments",
        "One row per parcel with carrier, promised date, shipped_at and delivered_at.",
        ("table", "operations"),
    ),
]

INCIDENTS = [
    (
        "incident-duplicate-orders",
        "Incident: duplicate orders in March",
        "A retry bug in the checkout service created duplicate orders between 3 and 9 March. Duplicates were flagged with is_duplicate and are excluded from revenue.",
        ("incident",),
    ),
    (
        "incident-stripe-webhooks",
        "Incident: missing payment webhooks",
        "Payment provider webhooks were dropped for six hours on 14 May, so some orders stayed pending until a backfill ran.",
        ("incident", "payments"),
    ),
    (
        "incident-event-tracking",
        "Incident: tracking gap after app release",
        "App version 4.2 stopped sending events for two days in June; DAU for those days is underestimated.",
        ("incident", "product"),
    ),
    (
        "incident-currency-rates",
        "Incident: stale exchange rates",
        "The exchange-rate job failed over a weekend in August, so EUR amounts used Friday's rates.",
        ("incident", "finance"),
    ),
    (
        "incident-timezone-shift",
        "Incident: orders shifted by one hour",
        "A daylight-saving bug assigned orders near midnight to the wrong day in late October.",
        ("incident",),
    ),
    (
        "incident-warehouse-outage",
        "Incident: warehouse outage",
        "The warehouse was unavailable for four hours during a provider upgrade; dashboards showed stale data.",
        ("incident",),
    ),
]

GLOSSARY = [
    (
        "glossary-cohort",
        "Cohort",
        "A group of customers defined by the month they first paid. Cohort charts follow them over time.",
        ("glossary",),
    ),
    (
        "glossary-seat",
        "Seat",
        "A licensed user on a subscription. Seats are billed monthly even on annual plans.",
        ("glossary", "saas"),
    ),
    (
        "glossary-chargeback",
        "Chargeback",
        "A payment reversed by the card issuer after a customer dispute; treated like a refund in net revenue.",
        ("glossary", "finance"),
    ),
    (
        "glossary-segment",
        "Customer segment",
        "SMB has fewer than 50 employees, mid-market 50 to 999, enterprise 1000 or more.",
        ("glossary",),
    ),
    (
        "glossary-attribution",
        "Attribution model",
        "We use last non-direct click attribution over a 30-day window.",
        ("glossary", "growth"),
    ),
    (
        "glossary-bot-traffic",
        "Bot traffic",
        "Sessions from known crawlers or with more than 200 page views per minute.",
        ("glossary", "web"),
    ),
    ("glossary-backfill", "Backfill", "Re-running a pipeline for past dates to fix or add data.", ("glossary",)),
    (
        "glossary-snapshot",
        "Snapshot table",
        "A table that stores the state of a record each day so history can be reconstructed.",
        ("glossary",),
    ),
]

TARGETS = METRICS + POLICIES + TABLES + INCIDENTS + GLOSSARY

QUERIES: list[tuple[str, str]] = [
    ("how is MRR calculated", "mrr"),
    ("monthly subscription revenue definition", "mrr"),
    ("annual recurring revenue for the board", "arr"),
    ("revenue after refunds and discounts", "net-revenue"),
    ("which revenue number does finance report", "net-revenue"),
    ("order value before refunds used by marketing", "gross-revenue"),
    ("margin after cost of goods sold", "gross-margin"),
    ("profit per order after variable costs", "contribution-margin"),
    ("do we count expansion in retention", "nrr"),
    ("retention that ignores upsells and cannot exceed 100%", "grr"),
    ("share of customers who cancelled this month", "logo-churn"),
    ("revenue lost from downgrades", "revenue-churn"),
    ("cost to acquire a new customer", "cac"),
    ("lifetime value compared to acquisition cost", "ltv"),
    ("average basket size", "aov"),
    ("percent of cart visitors who buy", "conversion-rate"),
    ("does login count as an active user", "dau"),
    ("monthly active users window", "mau"),
    ("dau over mau ratio", "stickiness"),
    ("refund percentage by order month", "refund-rate"),
    ("promoters minus detractors", "nps"),
    ("ticket satisfaction rating", "csat"),
    ("how fast do agents reply to tickets", "first-response-time"),
    ("old open tickets count", "ticket-backlog"),
    ("how quickly stock sells through", "inventory-turnover"),
    ("hours between payment and shipping", "fulfilment-time"),
    ("parcels arriving by the promised date", "on-time-delivery"),
    ("free trial to paying customers", "trial-conversion"),
    ("new signups who invite a teammate", "activation-rate"),
    ("months to recover acquisition spend", "payback-period"),
    ("cash burned per new ARR", "burn-multiple"),
    ("revenue from upgrades and extra seats", "expansion-revenue"),
    ("how long do we keep event data", "data-retention"),
    ("can I export customer emails to a spreadsheet", "pii-handling"),
    ("when does the fiscal year start", "fiscal-calendar"),
    ("what timezone are timestamps stored in", "timezone-convention"),
    ("exchange rate used to convert orders to euros", "currency-conversion"),
    ("how many days can customers ask for their money back", "refund-policy"),
    ("exclude employees and test accounts from metrics", "test-accounts"),
    ("which team owns revenue metrics", "metric-ownership"),
    ("what does the green badge on a dashboard mean", "dashboard-certification"),
    ("how do I get access to the finance schema", "access-requests"),
    ("how often are finance tables refreshed", "sla-data-freshness"),
    ("what does the stg_ prefix mean", "naming-conventions"),
    ("table with one row per order and its status", "orders-table"),
    ("why do order amounts double when joining line items", "order-items-table"),
    ("where is the customer segment stored", "customers-table"),
    ("subscription plan history with valid_from", "subscriptions-table"),
    ("amount due and due date per invoice", "invoices-table"),
    ("where are chargebacks recorded", "refunds-table"),
    ("raw product analytics events table", "events-table"),
    ("how are web sessions defined", "sessions-table"),
    ("help desk tickets with priority", "tickets-table"),
    ("product cost price and sku", "products-table"),
    ("daily ad spend by campaign", "marketing-spend-table"),
    ("carrier delivered_at per parcel", "shipments-table"),
    ("duplicate orders in March", "incident-duplicate-orders"),
    ("orders stuck pending because webhooks were lost", "incident-stripe-webhooks"),
    ("why is DAU low in June", "incident-event-tracking"),
    ("wrong exchange rates over a weekend", "incident-currency-rates"),
    ("orders on the wrong day around daylight saving", "incident-timezone-shift"),
    ("what is a cohort", "glossary-cohort"),
    ("are seats billed monthly on annual plans", "glossary-seat"),
    ("is a card dispute treated as a refund", "glossary-chargeback"),
    ("how many employees is mid-market", "glossary-segment"),
    ("which attribution model do we use", "glossary-attribution"),
]

# --- generated distractors: same vocabulary, different facts ---

_TEAMS = ["finance", "growth", "product", "support", "operations", "marketing", "sales", "data platform"]
_SYSTEMS = ["checkout", "billing", "ingestion", "reverse ETL", "dbt run", "ad connector", "CRM sync", "event collector"]
_TOPICS = ["revenue", "orders", "customers", "subscriptions", "events", "tickets", "refunds", "shipments", "invoices"]
_ADJ = ["weekly", "regional", "quarterly", "legacy", "experimental", "draft", "archived", "mobile", "partner"]
_MONTHS = ["January", "February", "April", "July", "September", "November", "December"]


def _filler(rng: random.Random, i: int) -> Page:
    kind = i % 4
    topic, adj, team = rng.choice(_TOPICS), rng.choice(_ADJ), rng.choice(_TEAMS)
    if kind == 0:
        system, month = rng.choice(_SYSTEMS), rng.choice(_MONTHS)
        return Page(
            f"incident-{system.replace(' ', '-')}-{month.lower()}-{i}",
            f"Incident: {system} delay in {month}",
            f"The {system} job ran late for {rng.randint(2, 30)} hours in {month}; {topic} numbers for those days "
            f"were refreshed by a backfill. Owner: {team}.",
            ("incident",),
        )
    if kind == 1:
        return Page(
            f"dashboard-{adj}-{topic}-{i}",
            f"{adj.title()} {topic} dashboard",
            f"A {adj} dashboard of {topic} maintained by {team}. It is not certified; prefer the main {topic} dashboard "
            f"for decisions. Filters: country, segment, channel.",
            ("dashboard",),
        )
    if kind == 2:
        return Page(
            f"stg-{topic}-{adj}-{i}",
            f"stg_{topic}_{adj}: staging model",
            f"Staging model cleaning raw {topic} from the {rng.choice(_SYSTEMS)} source. Renames columns and casts "
            f"types; no business logic. Downstream: fct_{topic}.",
            ("table", "staging"),
        )
    return Page(
        f"meeting-notes-{team.replace(' ', '-')}-{i}",
        f"{team.title()} sync notes #{i}",
        f"Discussed {topic} trends and the {adj} report. Action items: check {rng.choice(_TOPICS)} definitions with "
        f"the data team, follow up on the {rng.choice(_SYSTEMS)} issue.",
        ("notes",),
    )


def build_corpus(extra: int = 0, *, seed: int = 7) -> list[Page]:
    """The ~66 target pages, 150 distractors, and `extra` more distractors for latency runs."""
    rng = random.Random(seed)
    pages = [Page(k, s, b, t) for k, s, b, t in TARGETS]
    pages += [_filler(rng, i) for i in range(150 + extra)]
    return pages


def write_pages(folder, pages: list[Page]) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for page in pages:
        tags = json.dumps(list(page.tags))
        (folder / f"{page.key}.md").write_text(
            f"---\nsummary: {json.dumps(page.summary)}\ntags: {tags}\n---\n\n{page.body}\n", encoding="utf-8"
        )
