"""Runs the shim's merge validator once against a running service and prints its verdict as JSON.

Usage: PROXBOX_INTENT_URL=... PROXBOX_INTENT_TOKEN=... python3 validate_branch.py <branch pk>
The branch counts as opted in. The service's end-to-end tests use it to check that the shim reads the plan answer
as the service gives it; it is not a unittest module.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_validator  # noqa: E402  (installs the netbox stubs and imports the shim)
from proxbox_intent_shim import validators  # noqa: E402

branch = test_validator.FakeBranch(pk=int(sys.argv[1]), custom_field_data={"apply_to_proxmox": True})
print(json.dumps(dataclasses.asdict(validators.proxbox_intent_merge_validator(branch))))
