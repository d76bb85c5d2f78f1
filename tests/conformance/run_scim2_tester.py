"""Runs scim2-tester against a live server; exits non-zero unless every check is SUCCESS.

Environment: SCIM_URL (base URL ending in /scim/v2) and SCIM_TOKEN.
"""
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

url = os.environ["SCIM_URL"]
token = os.environ["SCIM_TOKEN"]
http = Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
results = check_server(SyncSCIMClient(http))
bad = [r for r in results if r.status != Status.SUCCESS]
for r in results:
    where = r.resource_type or "-"
    print(f"  {r.status.name:8} [{where}] {r.title}" + (f": {r.reason}" if r.status != Status.SUCCESS else ""))
print(f"scim2-tester: {len(results) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad or not results else 0)
