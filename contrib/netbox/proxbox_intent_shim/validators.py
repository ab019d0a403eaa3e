"""netbox-branching hooks that delegate to the proxbox-intent service.

``proxbox_intent_merge_validator`` is a merge validator (netbox.md §6.1/§6.3): it permits at once
unless the branch opted in with ``apply_to_proxmox``, otherwise it asks
``POST {url}/api/v1/branches/{pk}/plan`` and fails closed on any problem. It never raises.
When NetBox knows who is merging (``merging_username``) it sends ``{"actor": "<username>"}``, so the
plan checks that user's permissions; otherwise it sends ``{}`` and the plan checks none.

``proxbox_intent_post_merge`` is an optional ``post_merge`` receiver that asks the service to start
the apply (``POST {url}/api/v1/apply-jobs``). It never raises either: a receiver that raises would
fail the merge job after the merge has committed.

Python standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from typing import Any

from netbox_branching.utilities import BranchActionIndicator

logger = logging.getLogger("proxbox_intent_shim")

PLUGIN_NAME = "proxbox_intent_shim"
PREFLIGHT_TIMEOUT_S = 8.0
APPLY_TIMEOUT_S = 3.0
MAX_RESPONSE_BYTES = 1024 * 1024
UNAVAILABLE = "proxbox-intent preflight unavailable: {reason}. Retry, or clear apply_to_proxmox."


class ShimError(Exception):
    """A failure whose message is safe to show to the person merging."""


def _plugin_settings() -> dict[str, Any]:
    try:
        from django.conf import settings

        value = getattr(settings, "PLUGINS_CONFIG", {}).get(PLUGIN_NAME, {})
        return value if isinstance(value, dict) else {}
    except Exception:
        return {}


def _setting(key: str, env_name: str) -> str:
    value = _plugin_settings().get(key) or os.environ.get(env_name, "")
    return str(value).strip()


def service_url() -> str:
    return _setting("url", "PROXBOX_INTENT_URL").rstrip("/")


def preflight_token() -> str:
    return _setting("token", "PROXBOX_INTENT_TOKEN")


def apply_token() -> str:
    return _setting("apply_token", "PROXBOX_INTENT_APPLY_TOKEN") or preflight_token()


def post_merge_enabled() -> bool:
    value = _plugin_settings().get("post_merge")
    if value is None:
        value = os.environ.get("PROXBOX_INTENT_POST_MERGE", "")
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value is True


def opted_in(branch: Any) -> bool:
    data = getattr(branch, "custom_field_data", None) or {}
    return isinstance(data, dict) and data.get("apply_to_proxmox") is True


MERGE_JOB_NAME = "Merge branch"  # netbox_branching.jobs.MergeBranchJob.Meta.name


def _username(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = user.get_username() if hasattr(user, "get_username") else getattr(user, "username", None)
    return name if isinstance(name, str) and name.strip() else None


def _merge_job_user(branch: Any) -> Any:
    """The user of the MergeBranchJob running ``branch``'s merge in this RQ worker, if that is what runs.

    netbox_branching/jobs.py MergeBranchJob.run calls ``branch.merge(user=self.job.user)``, and
    Branch.merge checks ``can_merge`` (our validator) before it enters any ``event_tracking`` block, so
    ``current_request`` is unset there; NetBox's Job.enqueue passes its Job to RQ as the ``job`` keyword.
    """
    try:
        from rq import get_current_job
    except ImportError:
        return None
    rq_job = get_current_job()
    if rq_job is None:
        return None
    job = (rq_job.kwargs or {}).get("job")
    if job is None or getattr(job, "name", None) != MERGE_JOB_NAME or getattr(job, "object_id", None) != branch.pk:
        return None
    return getattr(job, "user", None)


def _request_user() -> Any:
    """The user of the web request being served (the merge page's GET and POST): NetBox's CoreMiddleware
    sets ``netbox.context.current_request`` through ``event_tracking`` for every request."""
    try:
        from netbox.context import current_request
    except ImportError:
        return None
    request = current_request.get()
    return getattr(request, "user", None) if request is not None else None


def merging_username(branch: Any) -> str | None:
    """The NetBox username of whoever is merging ``branch``, when NetBox knows it; ``None`` otherwise."""
    try:
        return _username(_merge_job_user(branch)) or _username(_request_user())
    except Exception:
        logger.warning("proxbox-intent: could not tell who merges branch %s; the plan checks no permissions", getattr(branch, "pk", "?"), exc_info=True)
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _problem_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read(64 * 1024).decode("utf-8", "replace"))
    except Exception:
        return ""
    if isinstance(body, dict):
        for key in ("detail", "title", "message"):
            if isinstance(body.get(key), str) and body[key].strip():
                return body[key].strip()
    return ""


def _exchange(url: str, token: str, payload: dict[str, Any], timeout: float) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": "proxbox-intent-shim",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        detail = _problem_detail(error)
        raise ShimError(f"HTTP {error.code}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as error:
        raise ShimError(f"cannot reach {url} ({error.reason})") from None
    except TimeoutError:
        raise ShimError(f"no answer from {url} within {timeout:g} s") from None
    except OSError as error:
        raise ShimError(f"cannot reach {url} ({error})") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise ShimError("response too large")
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise ShimError("response is not JSON") from None


def post_json(url: str, token: str, payload: dict[str, Any], timeout: float) -> Any:
    """POSTs JSON and returns the decoded answer; the whole exchange, DNS included, gets ``timeout`` seconds."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = _exchange(url, token, payload, timeout)
        except BaseException as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, name="proxbox-intent-shim", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ShimError(f"no answer from {url} within {timeout:g} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, ShimError):
            raise error
        raise ShimError(f"{type(error).__name__}: {error}")
    return outcome.get("value")


def _unavailable(reason: str) -> BranchActionIndicator:
    return BranchActionIndicator(False, UNAVAILABLE.format(reason=str(reason).strip().rstrip(".") or "unknown error"))


def proxbox_intent_merge_validator(branch: Any) -> BranchActionIndicator:
    try:
        if not opted_in(branch):
            return BranchActionIndicator(True)
        base, token = service_url(), preflight_token()
        if not base:
            return _unavailable("PROXBOX_INTENT_URL is not configured")
        if not token:
            return _unavailable("no proxbox-intent token is configured")
        actor = merging_username(branch)
        payload = {"actor": actor} if actor else {}
        verdict = post_json(f"{base}/api/v1/branches/{int(branch.pk)}/plan", token, payload, PREFLIGHT_TIMEOUT_S)
        if not isinstance(verdict, dict) or not isinstance(verdict.get("permitted"), bool):
            return _unavailable("the plan answer has no permitted flag")
        permitted = verdict["permitted"] is True
        message = verdict.get("message")
        message = message.strip() if isinstance(message, str) else ""
        if not permitted and not message:
            message = "proxbox-intent blocked this merge; open the plan summary for details."
        return BranchActionIndicator(permitted, message)
    except ShimError as error:
        return _unavailable(str(error))
    except Exception as error:
        logger.exception("proxbox-intent merge validator failed")
        return _unavailable(f"{type(error).__name__}: {error}")


def proxbox_intent_post_merge(sender: Any = None, branch: Any = None, user: Any = None, **kwargs: Any) -> None:
    try:
        if branch is None or not opted_in(branch):
            return
        base, token = service_url(), apply_token()
        if not base or not token:
            logger.warning("proxbox-intent post_merge: url or token not configured; the webhook or reconciler will pick up branch %s", getattr(branch, "pk", "?"))
            return
        answer = post_json(f"{base}/api/v1/apply-jobs", token, {"branchId": int(branch.pk)}, APPLY_TIMEOUT_S)
        job_id = answer.get("id") if isinstance(answer, dict) else None
        logger.info("proxbox-intent apply requested for branch %s (job %s)", branch.pk, job_id)
    except Exception as error:
        logger.warning("proxbox-intent post_merge for branch %s failed: %s", getattr(branch, "pk", "?"), error)
