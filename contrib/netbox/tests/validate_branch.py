"""Runs the shim's merge validator once against a running service and prints its verdict as JSON.

Usage: PROXBOX_INTENT_URL=... PROXBOX_INTENT_TOKEN=... python3 validate_branch.py <branch pk> [<netbox username>]
The branch counts as opted in. With a username, the validator runs as on NetBox's merge page for that signed-in
user (``current_request`` set), so the shim sends it as the plan's actor. The service's end-to-end tests use it to
check that the shim reads the plan answer as the service gives it; it is not a unittest module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_validator  # noqa: E402  (installs the netbox stubs and imports the shim)
from proxbox_intent_shim import validators  # noqa: E402

branch = test_validator.FakeBranch(pk=int(sys.argv[1]), custom_field_data={"apply_to_proxmox": True})
signed_in = test_validator.merge_page_request(test_validator.FakeUser(sys.argv[2])) if len(sys.argv) > 2 else contextlib.nullcontext()
with signed_in:
    print(json.dumps(dataclasses.asdict(validators.proxbox_intent_merge_validator(branch))))
