"""One discovered link as a person reviews it: where it goes, how it was found, and the evidence that decided its
status (name score, sampled containment, SQL validation's counts, target uniqueness, reasons)."""

from __future__ import annotations

from typing import Any

MAX_REJECTED_IN_REPORT = 200


def link_evidence(edge: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """A `relationships.json` edge as a review line."""
    validation = edge.get("validation") or {}
    evidence = edge.get("evidence") or {}
    out = {
        "status": status or edge.get("status"),
        "from": f"{edge['from']['table']}({', '.join(edge['from']['columns'])})",
        "to": f"{edge['to']['table']}({', '.join(edge['to']['columns'])})",
        "source": edge.get("source"),
        "match": edge.get("match"),
        "nameScore": evidence.get("nameSimilarity"),
        "valueOverlap": evidence.get("valueOverlap"),
        "confidence": edge.get("confidence"),
        "score": edge.get("score"),
        "coverage": validation.get("coverage"),
        "targetUniqueness": validation.get("targetUniqueness"),
        "validated": validation.get("passed"),
        "reasons": edge.get("reasons") or [],
    }
    if "childDistinct" in validation:
        out["validationCounts"] = {
            "childDistinct": validation.get("childDistinct"),
            "parentDistinct": validation.get("parentDistinct"),
            "matched": validation.get("overlap"),
            "violations": validation.get("violations"),
        }
    if validation.get("error"):
        out["validationError"] = validation["error"]
    return out


def report_details(relationships: dict[str, Any]) -> dict[str, Any]:
    """Accepted, to-review and rejected links with their evidence, for the ingest report (rejected ones capped,
    with how many were left out)."""
    rejected = relationships.get("rejected", [])
    out: dict[str, Any] = {
        status: [link_evidence(e, status) for e in relationships.get(status, [])] for status in ("accepted", "review")
    }
    out["rejected"] = [link_evidence(e, "rejected") for e in rejected[:MAX_REJECTED_IN_REPORT]]
    if len(rejected) > MAX_REJECTED_IN_REPORT:
        out["rejectedNotShown"] = len(rejected) - MAX_REJECTED_IN_REPORT
    return out


def links_of_table(relationships: dict[str, Any] | None, names: set[str]) -> list[dict[str, Any]]:
    """Every discovered link from or to one table (`names`: its source key forms, lower case), with evidence."""
    if not relationships:
        return []
    out = []
    for status in ("accepted", "review", "rejected"):
        for edge in relationships.get(status, []):
            ends = {str(edge["from"]["table"]).lower(), str(edge["to"]["table"]).lower()}
            if ends & names:
                out.append(link_evidence(edge, status))
    return out
