from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml
from microservice_operator.controller import MAX_BACKOFF, retry_delay
from microservice_operator.k8s import ApiError, Client, user_agent
from urllib3.exceptions import ProtocolError

BODY = json.dumps({"kind": "Status", "message": "too many requests, please try again later"})


@pytest.mark.parametrize(("failures", "err", "delay"), [
    (1, ProtocolError("reset"), 0.5),
    (3, ProtocolError("reset"), 2.0),
    (20, ProtocolError("reset"), MAX_BACKOFF),
    (1, ApiError(429, "Too Many Requests", BODY, retry_after=7), 7.0),  # the server's word wins
    (5, ApiError(429, "Too Many Requests", BODY, retry_after=1), 8.0),  # but never sooner than backoff
    (1, ApiError(429, "Too Many Requests", BODY, retry_after=3600), MAX_BACKOFF),  # capped
    (1, ApiError(429, "Too Many Requests", BODY), 0.5),  # no header: plain backoff
])
def test_retry_delay_honours_retry_after_within_the_cap(failures: int, err: Exception, delay: float) -> None:
    assert retry_delay(failures, err) == delay


def test_api_error_keeps_the_servers_message() -> None:
    assert str(ApiError(429, "Too Many Requests", BODY, retry_after=2)) == (
        "HTTP 429: too many requests, please try again later")


def test_user_agent_names_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "mso-7d9f-abcde")
    assert user_agent().startswith("microservice-operator/") and user_agent().endswith(" (mso-7d9f-abcde)")
    monkeypatch.delenv("POD_NAME")
    assert "()" not in user_agent()


class _Throttling(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(429)
        self.send_header("Retry-After", "3")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(BODY.encode())

    def log_message(self, *_: object) -> None:
        pass


def test_the_client_reads_retry_after_from_a_429(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "s", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        with pytest.raises(ApiError) as raised:
            Client(pool_size=1).request("GET", "/api/v1/namespaces")
        assert (raised.value.status, raised.value.retry_after) == (429, 3.0)
        assert retry_delay(1, raised.value) == 3.0
    finally:
        server.shutdown()
