"""A database outage, as clients see it: every route that needs the database answers 503 with
Retry-After in OpenAI's error shape (never a 500), and the client's keep-alive connection stays
usable (a 500 raised past the app used to make the server drop it: "connection reset"). The
database is a real PostgreSQL behind a loopback proxy that the test cuts and restores."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import openai
import pytest
from sqlalchemy.engine import make_url

from service.db.database import Database
from service.settings import Settings
from tests.backends import postgres_database
from tests.live import live_api
from tests.tcp_proxy import TcpProxy, tcp_proxy


@pytest.fixture()
def outage(settings: Settings) -> Iterator[tuple[str, TcpProxy]]:
    with postgres_database("tf_outage") as url:
        real = make_url(url)
        with tcp_proxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
            database = Database.from_url(
                real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            )
            try:
                with live_api(settings, database) as base_url:
                    yield base_url, proxy
            finally:
                database.engine.dispose()


def test_a_database_outage_is_a_503_with_retry_after_on_a_connection_that_survives(
    outage: tuple[str, TcpProxy],
) -> None:
    base_url, proxy = outage
    proxy.cut()
    client = openai.OpenAI(api_key="sk-any", base_url=f"{base_url}/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as raised:
        client.fine_tuning.jobs.list()
    assert raised.value.status_code == 503
    assert raised.value.response.headers["retry-after"] == "5"

    host = urlsplit(base_url)
    connection = http.client.HTTPConnection(host.hostname or "", host.port, timeout=10)
    for path in ("/v1/fine_tuning/jobs", "/v1/files", "/v1/webhook_endpoints"):
        connection.request("GET", path, headers={"Authorization": "Bearer sk-any"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 503, (path, body)
        assert response.getheader("Retry-After") == "5"
        assert body["error"]["code"] == "database_unavailable"
        assert (response.getheader("Connection") or "").lower() != "close"
    socket_before = connection.sock

    proxy.restore()
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
    assert connection.sock is socket_before  # the same keep-alive connection, never reset
    connection.close()
