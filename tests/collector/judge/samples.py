"""Vulnerability files in the shapes CISA and the CVE Program publish (trimmed to what matters)."""

from __future__ import annotations

import json
from typing import Any


def kev(*cves: tuple[str, str], version: str = "2026.11.20") -> bytes:
    """A ``known_exploited_vulnerabilities.json`` with the given (cve, dateAdded)."""
    return json.dumps(
        {
            "title": "CISA Catalog of Known Exploited Vulnerabilities",
            "catalogVersion": version,
            "dateReleased": "2026-11-20T17:00:00.0000Z",
            "count": len(cves),
            "vulnerabilities": [
                {
                    "cveID": cve,
                    "vendorProject": "Dahua",
                    "product": "IP Camera Firmware",
                    "vulnerabilityName": "Dahua IP Camera Authentication Bypass",
                    "dateAdded": added,
                    "shortDescription": "...",
                    "requiredAction": "Apply mitigations per vendor instructions or discontinue use.",
                    "dueDate": "2026-12-11",
                    "knownRansomwareCampaignUse": "Unknown",
                    "notes": "",
                    "cwes": ["CWE-287"],
                }
                for cve, added in cves
            ],
        }
    ).encode()


def cve_record(cve: str, vendor: str, product: str, versions: list[dict[str, str]]) -> dict[str, Any]:
    """A CVE JSON 5 record (cvelistV5 layout)."""
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {
            "cveId": cve,
            "assignerShortName": "dahua",
            "state": "PUBLISHED",
            "datePublished": "2026-10-01T00:00:00.000Z",
            "dateUpdated": "2026-10-02T00:00:00.000Z",
        },
        "containers": {
            "cna": {
                "affected": [{"vendor": vendor, "product": product, "versions": versions}],
                "descriptions": [{"lang": "en", "value": f"{cve}: a test flaw in {product}"}],
            }
        },
    }
