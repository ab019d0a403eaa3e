"""Runs the shim against a local HTTP server. Run: python3 -m unittest discover contrib/netbox/tests"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import os
import socket
import sys
import threading
import time
import types
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock


@dataclasses.dataclass
class BranchActionIndicator:
    permitted: bool
    message: str = ""

    def __bool__(self) -> bool:
        return self.permitted


def _install_stubs() -> None:
    """Stand-ins for what the shim imports from NetBox, netbox-branching and RQ, shaped as their sources are:
    netbox/netbox/context.py (``current_request``, a ContextVar) and rq/job.py (``get_current_job``)."""
    context = types.ModuleType("netbox.context")
    context.current_request = contextvars.ContextVar("current_request", default=None)
    rq = types.ModuleType("rq")
    rq.current_job = None
    rq.get_current_job = lambda: rq.current_job
    branching = types.ModuleType("netbox_branching")
    utilities = types.ModuleType("netbox_branching.utilities")
    utilities.BranchActionIndicator = BranchActionIndicator
    branching.utilities = utilities
    netbox = types.ModuleType("netbox")
    plugins = types.ModuleType("netbox.plugins")
    plugins.PluginConfig = type("PluginConfig", (), {"ready": lambda self: None})
    netbox.plugins = plugins
    netbox.context = context
    sys.modules.update({
        "netbox_branching": branching,
        "netbox_branching.utilities": utilities,
        "netbox": netbox,
        "netbox.plugins": plugins,
        "netbox.context": context,
        "rq": rq,
    })


_install_stubs()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbox_intent_shim import validators  # noqa: E402

TOKEN = "view-token-0123456789"


@dataclasses.dataclass
class FakeBranch:
    pk: int
    custom_field_data: dict


@dataclasses.dataclass
class FakeUser:
    """django.contrib.auth's user API as the shim uses it."""
    username: str
    is_authenticated: bool = True

    def get_username(self) -> str:
        return self.username


ANONYMOUS = FakeUser("", is_authenticated=False)


def merge_page_request(user: FakeUser) -> contextlib.AbstractContextManager:
    """What NetBox's CoreMiddleware does for the merge page: event_tracking(request) sets current_request."""
    from netbox.context import current_request

    @contextlib.contextmanager
    def tracking():
        token = current_request.set(types.SimpleNamespace(user=user, id="request-id"))
        try:
            yield
        finally:
            current_request.reset(token)

    return tracking()


def running_merge_job(branch_pk: int, user: FakeUser | None, name: str = "Merge branch") -> contextlib.AbstractContextManager:
    """An RQ worker running NetBox's Job for a branch: Job.enqueue passes the Job as the ``job`` keyword."""
    job = types.SimpleNamespace(name=name, object_id=branch_pk, user=user)
    return mock.patch.object(sys.modules["rq"], "current_job", types.SimpleNamespace(kwargs={"job": job, "commit": True}))


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.respond = lambda handler: handler.reply(200, {"permitted": True, "message": ""})
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    recorder: Recorder

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.recorder.lock:
            self.recorder.requests.append({
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            })
        try:
            self.recorder.respond(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reply(self, status: int, payload: object, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ShimTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.recorder = Recorder()
        handler = type("BoundHandler", (Handler,), {"recorder": cls.recorder})
        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.server.daemon_threads = True
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.base_url = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self) -> None:
        self.recorder.requests.clear()
        self.recorder.respond = lambda handler: handler.reply(200, {"permitted": True, "message": ""})
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROXBOX_INTENT_")}
        env.update({"PROXBOX_INTENT_URL": self.base_url + "/", "PROXBOX_INTENT_TOKEN": TOKEN})
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)

    def validate(self, branch: FakeBranch) -> BranchActionIndicator:
        result = validators.proxbox_intent_merge_validator(branch)
        self.assertIsInstance(result, BranchActionIndicator)
        return result

    def assertFailsClosed(self, result: BranchActionIndicator, reason_fragment: str) -> None:
        self.assertFalse(result.permitted)
        self.assertTrue(result.message.startswith("proxbox-intent preflight unavailable: "), result.message)
        self.assertTrue(result.message.endswith(". Retry, or clear apply_to_proxmox."), result.message)
        self.assertNotIn("..", result.message)
        self.assertIn(reason_fragment, result.message)
        self.assertNotIn(TOKEN, result.message)


OPTED_IN = FakeBranch(pk=42, custom_field_data={"apply_to_proxmox": True})


class MergeValidatorTests(ShimTestCase):
    def test_permitted(self) -> None:
        self.recorder.respond = lambda h: h.reply(200, {"permitted": True, "message": "2 VMs will be created", "verdicts": []})
        result = self.validate(OPTED_IN)
        self.assertTrue(result.permitted)
        self.assertEqual(result.message, "2 VMs will be created")
        [request] = self.recorder.requests
        self.assertEqual(request["path"], "/api/v1/branches/42/plan")
        self.assertEqual(request["authorization"], f"Bearer {TOKEN}")
        self.assertEqual(request["content_type"], "application/json")
        self.assertEqual(json.loads(request["body"]), {})

    def test_blocked(self) -> None:
        self.recorder.respond = lambda h: h.reply(200, {"permitted": False, "message": "Intent master flag is disabled"})
        result = self.validate(OPTED_IN)
        self.assertFalse(result.permitted)
        self.assertEqual(result.message, "Intent master flag is disabled")

    def test_blocked_without_message_still_explains(self) -> None:
        self.recorder.respond = lambda h: h.reply(200, {"permitted": False})
        result = self.validate(OPTED_IN)
        self.assertFalse(result.permitted)
        self.assertTrue(result.message)

    def test_not_opted_in_makes_no_call(self) -> None:
        for data in ({}, {"apply_to_proxmox": False}, {"apply_to_proxmox": None}, {"apply_to_proxmox": "true"}, None):
            with self.subTest(custom_field_data=data):
                result = self.validate(FakeBranch(pk=7, custom_field_data=data))
                self.assertTrue(result.permitted)
        self.assertEqual(self.recorder.requests, [])

    def test_timeout_fails_closed(self) -> None:
        self.recorder.respond = lambda h: (time.sleep(3), h.reply(200, {"permitted": True}))
        with mock.patch.object(validators, "PREFLIGHT_TIMEOUT_S", 0.5):
            started = time.monotonic()
            result = self.validate(OPTED_IN)
            elapsed = time.monotonic() - started
        self.assertFailsClosed(result, "within 0.5 s")
        self.assertLess(elapsed, 2.0)

    def test_timeout_is_total_not_per_read(self) -> None:
        def drip(handler: Handler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            for _ in range(20):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.1)

        self.recorder.respond = drip
        with mock.patch.object(validators, "PREFLIGHT_TIMEOUT_S", 0.5):
            started = time.monotonic()
            result = self.validate(OPTED_IN)
            elapsed = time.monotonic() - started
        self.assertFailsClosed(result, "within 0.5 s")
        self.assertLess(elapsed, 1.5)

    def test_connection_refused_fails_closed(self) -> None:
        os.environ["PROXBOX_INTENT_URL"] = f"http://127.0.0.1:{free_port()}"
        self.assertFailsClosed(self.validate(OPTED_IN), "cannot reach")

    def test_http_error_fails_closed_with_problem_detail(self) -> None:
        self.recorder.respond = lambda h: h.reply(
            403, {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "permission denied", "code": "permission_denied"},
            content_type="application/problem+json",
        )
        self.assertFailsClosed(self.validate(OPTED_IN), "HTTP 403: permission denied")

    def test_server_error_fails_closed(self) -> None:
        self.recorder.respond = lambda h: h.reply(503, b"upstream down", content_type="text/plain")
        self.assertFailsClosed(self.validate(OPTED_IN), "HTTP 503")

    def test_non_json_fails_closed(self) -> None:
        self.recorder.respond = lambda h: h.reply(200, b"<html>login</html>", content_type="text/html")
        self.assertFailsClosed(self.validate(OPTED_IN), "not JSON")

    def test_missing_permitted_fails_closed(self) -> None:
        self.recorder.respond = lambda h: h.reply(200, {"permitted": "yes"})
        self.assertFailsClosed(self.validate(OPTED_IN), "no permitted flag")

    def test_redirect_is_not_followed(self) -> None:
        def redirect(handler: Handler) -> None:
            handler.send_response(302)
            handler.send_header("Location", "http://127.0.0.1:1/elsewhere")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.recorder.respond = redirect
        self.assertFailsClosed(self.validate(OPTED_IN), "HTTP 302")
        self.assertEqual(len(self.recorder.requests), 1)

    def test_missing_configuration_fails_closed(self) -> None:
        del os.environ["PROXBOX_INTENT_URL"]
        self.assertFailsClosed(self.validate(OPTED_IN), "PROXBOX_INTENT_URL is not configured")
        os.environ["PROXBOX_INTENT_URL"] = self.base_url
        del os.environ["PROXBOX_INTENT_TOKEN"]
        self.assertFailsClosed(self.validate(OPTED_IN), "no proxbox-intent token")
        self.assertEqual(self.recorder.requests, [])

    def test_unexpected_exception_never_raises(self) -> None:
        with mock.patch.object(validators, "post_json", side_effect=RuntimeError("boom")), \
                self.assertLogs("proxbox_intent_shim", "ERROR"):
            self.assertFailsClosed(self.validate(OPTED_IN), "RuntimeError: boom")

    def test_contract_timeouts(self) -> None:
        self.assertEqual(validators.PREFLIGHT_TIMEOUT_S, 8.0)
        self.assertEqual(validators.APPLY_TIMEOUT_S, 3.0)

    def test_plugins_config_wins_over_environment(self) -> None:
        with mock.patch.object(validators, "_plugin_settings", return_value={"url": self.base_url, "token": "from-plugins-config"}):
            os.environ["PROXBOX_INTENT_URL"] = "http://127.0.0.1:1"
            self.assertTrue(self.validate(OPTED_IN).permitted)
        self.assertEqual(self.recorder.requests[0]["authorization"], "Bearer from-plugins-config")


class MergingUserTests(ShimTestCase):
    """Who merges, when NetBox knows it, is sent as the plan's actor (issue 13 §4)."""

    branch = FakeBranch(pk=42, custom_field_data={"apply_to_proxmox": True})

    def sent_body(self) -> dict:
        self.assertEqual(len(self.recorder.requests), 1)
        return json.loads(self.recorder.requests[0]["body"])

    def test_no_request_and_no_job_sends_no_actor(self) -> None:
        self.assertTrue(self.validate(self.branch).permitted)
        self.assertEqual(self.sent_body(), {})

    def test_the_merge_page_sends_the_signed_in_user(self) -> None:
        with merge_page_request(FakeUser("alice")):
            self.validate(self.branch)
        self.assertEqual(self.sent_body(), {"actor": "alice"})

    def test_an_anonymous_request_sends_no_actor(self) -> None:
        with merge_page_request(ANONYMOUS):
            self.validate(self.branch)
        self.assertEqual(self.sent_body(), {})

    def test_the_merge_job_sends_its_user(self) -> None:
        with running_merge_job(42, FakeUser("bob")):
            self.validate(self.branch)
        self.assertEqual(self.sent_body(), {"actor": "bob"})

    def test_the_merge_job_user_wins_over_a_request_set_by_someone_else(self) -> None:
        with running_merge_job(42, FakeUser("bob")), merge_page_request(FakeUser("change-author")):
            self.validate(self.branch)
        self.assertEqual(self.sent_body(), {"actor": "bob"})

    def test_a_job_for_another_branch_or_another_job_or_without_user_is_not_the_merger(self) -> None:
        for job in (running_merge_job(7, FakeUser("bob")), running_merge_job(42, FakeUser("bob"), name="Sync branch"), running_merge_job(42, None)):
            self.recorder.requests.clear()
            with job:
                self.validate(self.branch)
            self.assertEqual(self.sent_body(), {})

    def test_the_plan_verdict_for_the_actor_is_what_the_merge_page_shows(self) -> None:
        message = "permission denied: intent_create_vm (web-03)"
        self.recorder.respond = lambda handler: handler.reply(200, {"permitted": False, "message": message, "actor": "carol"})
        with merge_page_request(FakeUser("carol")):
            result = self.validate(self.branch)
        self.assertEqual((result.permitted, result.message), (False, message))

    def test_a_failing_lookup_sends_no_actor_and_still_asks(self) -> None:
        broken = types.SimpleNamespace(get=mock.Mock(side_effect=RuntimeError("context gone")))
        with mock.patch.object(sys.modules["netbox.context"], "current_request", broken), self.assertLogs("proxbox_intent_shim", "WARNING"):
            self.assertTrue(self.validate(self.branch).permitted)
        self.assertEqual(self.sent_body(), {})

    def test_without_netbox_context_or_rq_sends_no_actor(self) -> None:
        with mock.patch.dict(sys.modules, {"netbox.context": None, "rq": None}):
            self.assertTrue(self.validate(self.branch).permitted)
        self.assertEqual(self.sent_body(), {})


class PostMergeReceiverTests(ShimTestCase):
    def test_requests_the_apply_with_the_apply_token(self) -> None:
        os.environ["PROXBOX_INTENT_APPLY_TOKEN"] = "apply-token-0123456789"
        self.recorder.respond = lambda h: h.reply(202, {"id": "job-1"})
        self.assertIsNone(validators.proxbox_intent_post_merge(sender=object, branch=OPTED_IN, user=None))
        [request] = self.recorder.requests
        self.assertEqual(request["path"], "/api/v1/apply-jobs")
        self.assertEqual(request["authorization"], "Bearer apply-token-0123456789")
        self.assertEqual(json.loads(request["body"]), {"branchId": 42})

    def test_falls_back_to_the_preflight_token(self) -> None:
        validators.proxbox_intent_post_merge(sender=object, branch=OPTED_IN, user=None)
        self.assertEqual(self.recorder.requests[0]["authorization"], f"Bearer {TOKEN}")

    def test_skips_branches_that_did_not_opt_in(self) -> None:
        validators.proxbox_intent_post_merge(sender=object, branch=FakeBranch(pk=3, custom_field_data={}), user=None)
        self.assertEqual(self.recorder.requests, [])

    def test_never_raises(self) -> None:
        with self.assertLogs("proxbox_intent_shim", "WARNING") as logs:
            self._fail_in_every_way()
        self.assertEqual(len(logs.records), 3)
        self.assertFalse(any(TOKEN in line for line in logs.output))

    def _fail_in_every_way(self) -> None:
        self.recorder.respond = lambda h: h.reply(500, {"detail": "boom"})
        self.assertIsNone(validators.proxbox_intent_post_merge(sender=object, branch=OPTED_IN, user=None))
        os.environ["PROXBOX_INTENT_URL"] = f"http://127.0.0.1:{free_port()}"
        self.assertIsNone(validators.proxbox_intent_post_merge(sender=object, branch=OPTED_IN, user=None))
        self.recorder.respond = lambda h: (time.sleep(2), h.reply(202, {}))
        os.environ["PROXBOX_INTENT_URL"] = self.base_url
        with mock.patch.object(validators, "APPLY_TIMEOUT_S", 0.3):
            self.assertIsNone(validators.proxbox_intent_post_merge(sender=object, branch=OPTED_IN, user=None))
        self.assertIsNone(validators.proxbox_intent_post_merge(sender=object, branch=object(), user=None))

    def test_post_merge_switch(self) -> None:
        self.assertFalse(validators.post_merge_enabled())
        os.environ["PROXBOX_INTENT_POST_MERGE"] = "true"
        self.assertTrue(validators.post_merge_enabled())
        with mock.patch.object(validators, "_plugin_settings", return_value={"post_merge": False}):
            self.assertFalse(validators.post_merge_enabled())


class PluginConfigTests(unittest.TestCase):
    def setUp(self) -> None:
        self.registered: list[tuple] = []
        self.connected: list[tuple] = []
        models = types.ModuleType("netbox_branching.models")
        models.Branch = type("Branch", (), {"register_preaction_check": staticmethod(lambda f, action: self.registered.append((f, action)))})
        signals = types.ModuleType("netbox_branching.signals")
        signals.post_merge = types.SimpleNamespace(connect=lambda f, dispatch_uid=None: self.connected.append((f, dispatch_uid)))
        patcher = mock.patch.dict(sys.modules, {"netbox_branching.models": models, "netbox_branching.signals": signals})
        patcher.start()
        self.addCleanup(patcher.stop)
        env = mock.patch.dict(os.environ, {}, clear=False)
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("PROXBOX_INTENT_POST_MERGE", None)

    def test_ready_registers_the_merge_validator(self) -> None:
        import proxbox_intent_shim

        self.assertEqual(proxbox_intent_shim.config.name, "proxbox_intent_shim")
        proxbox_intent_shim.config().ready()
        self.assertEqual(self.registered, [(validators.proxbox_intent_merge_validator, "merge")])
        self.assertEqual(self.connected, [])

    def test_ready_connects_post_merge_when_enabled(self) -> None:
        import proxbox_intent_shim

        os.environ["PROXBOX_INTENT_POST_MERGE"] = "1"
        proxbox_intent_shim.config().ready()
        self.assertEqual(self.connected, [(validators.proxbox_intent_post_merge, "proxbox_intent_shim.post_merge")])


if __name__ == "__main__":
    unittest.main()
