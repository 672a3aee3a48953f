from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from service.webhooks.sender import send_webhook
from service.webhooks.ssrf import UrlPolicy
from tests.service.webhooks.receiver import Reply, running_receiver
from tests.service.webhooks.tls import self_signed_contexts

LOCAL = UrlPolicy(allow_http=True, allow_private=True, any_port=True)
PRODUCTION = UrlPolicy(allow_http=False, allow_private=False)
HEADERS = {"webhook-id": "msg_1"}


def resolving_to(address: str) -> Any:
    def resolver(host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolver


def test_2xx_is_success_and_the_excerpt_is_capped_at_1_kib() -> None:
    with running_receiver() as receiver:
        receiver.replies.append(Reply(200, b"x" * 5000))
        result = send_webhook(receiver.url(), '{"a":1}', HEADERS, policy=LOCAL, timeout_s=5)
        assert result.ok and result.status_code == 200 and result.error is None
        assert result.response_excerpt == "x" * 1024
        assert result.latency_ms >= 0
        sent = receiver.received[0]
        assert sent.body == b'{"a":1}'
        assert sent.headers["webhook-id"] == "msg_1"
        assert sent.headers["content-type"] == "application/json"


def test_failures_are_reported_with_status_and_retry_after() -> None:
    with running_receiver() as receiver:
        receiver.replies += [
            Reply(500, b"boom"),
            Reply(429, b"slow down", {"Retry-After": "120"}),
            Reply(503, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            Reply(410, b"gone"),
        ]
        results = [
            send_webhook(receiver.url(), "{}", HEADERS, policy=LOCAL, timeout_s=5) for _ in range(4)
        ]
    server_error, limited, unavailable, gone = results
    assert not server_error.ok and server_error.error == "HTTP 500"
    assert server_error.response_excerpt == "boom" and server_error.retry_after_s is None
    assert limited.retry_after_s == 120
    assert unavailable.retry_after_s == 0  # a date in the past means "now"
    assert gone.gone and not gone.ok


def test_redirects_are_not_followed() -> None:
    with running_receiver() as receiver:
        receiver.replies.append(Reply(302, b"", {"Location": "http://169.254.169.254/"}))
        result = send_webhook(receiver.url(), "{}", HEADERS, policy=LOCAL, timeout_s=5)
        assert len(receiver.received) == 1
    assert not result.ok and result.status_code == 302
    assert result.error is not None and "not followed" in result.error


def test_a_hanging_receiver_times_out() -> None:
    with running_receiver() as receiver:
        receiver.replies.append(Reply(200, b"late", delay_s=2.0))
        result = send_webhook(receiver.url(), "{}", HEADERS, policy=LOCAL, timeout_s=0.3)
    assert not result.ok and result.status_code is None
    assert result.error is not None and "timed out after 0.3s" in result.error
    assert result.latency_ms < 1500


def test_a_receiver_that_is_down_is_a_connect_error() -> None:
    with running_receiver() as receiver:
        url = receiver.url()
    result = send_webhook(url, "{}", HEADERS, policy=LOCAL, timeout_s=2)
    assert not result.ok and result.error is not None and "could not connect" in result.error


def test_hostile_targets_are_refused_at_send_time_without_a_request() -> None:
    with running_receiver() as receiver:
        rebinding = receiver.url(host="hooks.example.com").replace("http://", "https://")
        cases = [
            receiver.url(),  # http:// in production mode, and loopback
            rebinding,  # a public-looking name whose DNS now says 127.0.0.1
            "https://user:pw@hooks.example.com/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:127.0.0.1]/x",
        ]
        for url in cases:
            result = send_webhook(
                url,
                "{}",
                HEADERS,
                policy=PRODUCTION,
                timeout_s=2,
                resolver=resolving_to("127.0.0.1"),
            )
            assert result.refused and not result.ok, url
            assert result.error is not None and result.error.startswith("refused: ")
        assert receiver.received == []


def test_connection_is_pinned_to_the_vetted_address_keeping_the_host_header() -> None:
    with running_receiver() as receiver:
        url = receiver.url(host="hooks.example.com")
        result = send_webhook(
            url, "{}", HEADERS, policy=LOCAL, timeout_s=5, resolver=resolving_to("127.0.0.1")
        )
        assert result.ok
        assert receiver.received[0].headers["host"] == f"hooks.example.com:{receiver.port}"


def test_tls_is_verified_against_the_hostname_while_connecting_to_the_vetted_ip(
    tmp_path: Path,
) -> None:
    server_tls, client_tls = self_signed_contexts("hooks.example.com", tmp_path)
    with running_receiver(tls=server_tls) as receiver:
        url = receiver.url(host="hooks.example.com")
        pinned = send_webhook(
            url,
            "{}",
            HEADERS,
            policy=LOCAL,
            timeout_s=5,
            resolver=resolving_to("127.0.0.1"),
            verify=client_tls,
        )
        assert pinned.ok, pinned.error
        # The same certificate is not valid for another name: the check really uses the host.
        other = send_webhook(
            receiver.url(host="other.example.com"),
            "{}",
            HEADERS,
            policy=LOCAL,
            timeout_s=5,
            resolver=resolving_to("127.0.0.1"),
            verify=client_tls,
        )
        assert not other.ok and other.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in other.error, other.error
        assert len(receiver.received) == 1


def test_a_dribbling_receiver_is_cut_off_at_the_total_deadline() -> None:
    """One byte of response header every 0.1 s never trips a per-read timeout; the attempt's
    total deadline still ends it (a receiver dribbling a byte every 5 s held both workers)."""
    stop = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def dribble() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 300:
                    if stop.wait(0.1):
                        return
                    conn.sendall(bytes([byte]))

        thread = threading.Thread(target=dribble, daemon=True)
        thread.start()
        started = time.monotonic()
        result = send_webhook(
            f"http://127.0.0.1:{port}/hook", "{}", HEADERS, policy=LOCAL, timeout_s=1.0
        )
        elapsed = time.monotonic() - started
        stop.set()
        thread.join(timeout=5)
    assert result.status_code is None
    assert result.error is not None and "timed out" in result.error
    assert elapsed < 10  # the dribble alone lasts 30 s
