"""Column and table names as comparable tokens: accents folded, camelCase split, warehouse prefixes dropped,
glued key suffixes (`custkey`, `CUSTOMERID`) split, and the last token singularized."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

LAYER_PREFIXES = frozenset(
    {"stg", "stage", "staging", "dim", "fct", "fact", "int", "mart", "raw", "src", "tbl", "ref", "lkp", "lookup"}
)
# Trailing decorations of legacy table names that do not change what a row is (`CUST_MST`, `plan_lookup`).
TABLE_DECORATIONS = frozenset({"mst", "master", "hdr", "header", "tbl", "table", "lkp", "lookup", "ref", "dim"})
# Single-word natural keys that name the same thing wherever they appear.
NATURAL_KEY_WORDS = frozenset({"sku", "isbn", "ean", "upc", "gtin", "vin", "iata", "icao", "imo", "duns", "ssn"})
# Roles that point at a person table (`author_id` → users) when the schema has exactly one such table.
PERSON_ROLES = frozenset(
    {
        "author",
        "owner",
        "creator",
        "created_by",
        "updated_by",
        "modified_by",
        "assignee",
        "reporter",
        "approver",
        "requester",
        "reviewer",
        "sender",
        "recipient",
        "assigned_to",
        "host",
        "organizer",
        "support_rep",  # Chinook: the employee who looks after a customer
        "sales_rep",
        "account_manager",
    }
)
PERSON_TABLES = frozenset({"user", "person", "people", "member", "employee", "staff", "account_user", "app_user"})
KEY_SUFFIXES = ("id", "key", "code", "uuid", "no", "num", "nbr", "nr", "cd", "sk", "fk", "number", "nummer", "numero")
SELF_REFERENCE_NAMES = frozenset(
    {
        "parent_id",
        "manager_id",
        "reported_to_id",
        "supervisor_id",
        "reports_to_id",
        "reports_to",  # Northwind, Chinook, classicmodels: the employee's manager
        "reported_to",
        "parent_key",
        "referred_by",
    }
)
_IRREGULAR_PLURALS = {
    "people": "person",
    "persons": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "indices": "index",
    "criteria": "criterion",
    "analyses": "analysis",
}
_LIGATURES = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "þ": "th"}
# Words that end in a key suffix without being "<base> + key" (`paid` is not `pa_id`).
_GLUED_EXCEPTIONS = frozenset(
    {
        "paid",
        "valid",
        "invalid",
        "fluid",
        "grid",
        "void",
        "avoid",
        "hybrid",
        "monkey",
        "turkey",
        "hockey",
        "jockey",
        "whiskey",
        "donkey",
        "unicode",
        "barcode",
        "encode",
        "decode",
        "episode",
        "mode",
        "code",
        "piano",
        "casino",
        "volcano",
        "domino",
        "rhino",
        "kino",
        "latino",
        "bambino",
        "album",
        "minimum",
        "maximum",
        "forum",
        "premium",
        "medium",
        "museum",
        "quantum",
        "stadium",
        "sodium",
        "datum",
        "serum",
        "vacuum",
        "spectrum",
        "curriculum",
        "momentum",
    }
)


def fold_accents(text: str) -> str:
    for source, target in _LIGATURES.items():
        text = text.replace(source, target).replace(source.upper(), target.upper())
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def singularize(word: str) -> str:
    """English plural rules on one token: `categories`→`category`, `boxes`→`box`, `people`→`person`, `status`
    stays."""
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("ves") and len(word) > 4:
        return word[:-3] + "f"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def split_glued_suffix(word: str) -> list[str]:
    """`custkey` → [cust, key]; `orderid` → [order, id]; `paid` and short words stay whole."""
    if word in _GLUED_EXCEPTIONS:
        return [word]
    for suffix in ("number", "uuid", "code", "key", "nbr", "num", "id", "no", "nr", "cd", "sk"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return [word[: -len(suffix)], suffix]
    return [word]


@lru_cache(maxsize=65536)
def tokens(name: str) -> tuple[str, ...]:
    """Lower-case word tokens of an identifier, with glued key suffixes split off."""
    text = fold_accents(name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([A-Za-z])([0-9])", r"\1_\2", text)
    text = re.sub(r"([0-9])([A-Za-z])", r"\1_\2", text)
    parts = [p for p in re.split(r"[^a-z0-9]+", text.lower()) if p]
    if parts:
        parts = [*parts[:-1], *split_glued_suffix(parts[-1])]
    return tuple(parts)


def normalize(name: str) -> str:
    return "_".join(tokens(name))


def table_tokens(name: str) -> tuple[str, ...]:
    """A table name's tokens without schema, layer prefix or decoration, with the last token singular.

    Unlike column tokens, a glued suffix stays whole: a table is rarely named `order_no`."""
    bare = name.rsplit(".", 1)[-1]
    parts = [p for p in re.split(r"[^a-z0-9]+", fold_accents(_camel(bare)).lower()) if p]
    if len(parts) > 1 and parts[0] in LAYER_PREFIXES:
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] in TABLE_DECORATIONS:
        parts = parts[:-1]
    if parts:
        parts[-1] = singularize(parts[-1])
    return tuple(parts)


def _camel(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)


# Few entries: each is a set of ~10 new strings, a 100,000-table scan asks for ~200,000 different words (each table
# name and each column base once or twice), and making one again costs ~2 µs.
@lru_cache(maxsize=4096)
def inflections(word: str) -> frozenset[str]:
    """A singular word and the plural and foreign-language inflected forms a table name may use."""
    forms = {word, singularize(word)}
    for base in list(forms):
        forms |= {base + "s", base + "es", base + "en", base + "n", base + "e", base + "er"}
        if base.endswith("y"):
            forms.add(base[:-1] + "ies")
        if base.endswith("e"):
            forms.add(base + "n")
    return frozenset(forms)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude multilingual stem: English singular, then common plural endings of German/Dutch/Romance."""
    word = singularize(word)
    for ending in ("en", "er", "es", "e", "n", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


# Abbreviations that are neither a prefix nor a consonant skeleton of the word (`dept` is not `depa…`).
ABBREVIATIONS = {
    "dept": "department",
    "acct": "account",
    "amt": "amount",
    "qty": "quantity",
    "emp": "employee",
    "empl": "employee",
    "mgr": "manager",
    "usr": "user",
    "org": "organization",
    "orgs": "organization",
    "txn": "transaction",
    "trx": "transaction",
    "inv": "invoice",
    "addr": "address",
    "msg": "message",
    "cat": "category",
    "loc": "location",
    "pmt": "payment",
    "pymt": "payment",
    "sched": "schedule",
    "svc": "service",
    "wh": "warehouse",
    "whse": "warehouse",
    "pos": "position",
    "cntry": "country",
    "ctry": "country",
}


@lru_cache(maxsize=65536)
def is_abbreviation(short: str, long: str) -> bool:
    """`cust` of `customer`, `prod` of `product`, `cstmr` of `customer`, `dept` of `department`: a curated
    abbreviation, a prefix of ≥ 3 letters, or a prefix of the long word's consonant skeleton."""
    if ABBREVIATIONS.get(short) in (long, singularize(long)) or ABBREVIATIONS.get(short, "") + "s" == long:
        return True
    if len(short) < 3 or len(short) >= len(long) or short[0] != long[0]:
        return False
    if long.startswith(short):
        return True
    skeleton = long[0] + re.sub(r"[aeiou]", "", long[1:])
    return skeleton.startswith(short)


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def clear_name_caches() -> None:
    """Forget the memoized name forms: a scan of 100,000 tables fills each cache (tens of MB) and a long-lived
    process should not keep them once its discovery is done."""
    for cached in (singularize, tokens, inflections, stem, is_abbreviation):
        cached.cache_clear()
