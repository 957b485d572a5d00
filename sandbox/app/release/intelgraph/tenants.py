"""The sandbox's tenants and the region each one lives in."""

from __future__ import annotations

TENANT_REGIONS: dict[str, str] = {
    "acme": "eu-west",
    "globex": "us-east",
    "initech": "us-west",
    "umbrella": "ap-south",
}
