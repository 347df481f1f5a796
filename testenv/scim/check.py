"""Runs scim2-tester's full compliance check against a SCIM service provider.

Usage: check.py BASE_URL (e.g. http://127.0.0.1:8080/scim/v2), the bearer secret in the
SCIM_TOKEN environment variable (never on the command line). Prints every check; exits 1 when
any is not a success (skipped checks count as failures: each must run).
"""

import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base = sys.argv[1]
    token = os.environ["SCIM_TOKEN"]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.check_response_status_codes = True
    client.check_response_content_type = True
    results = check_server(client)
    failed = 0
    for result in results:
        ok = result.status == Status.SUCCESS
        failed += 0 if ok else 1
        print(f"{result.status.name} {result.title}: {result.reason or ''}")
    print(f"{len(results)} checks, {failed} not passed")
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
