"""A database outage, as clients see it: every route that needs the database answers 503 with
Retry-After in OpenAI's error shape (never a 500), and the client's keep-alive connection stays
usable (a 500 raised past the app used to make the server drop it: "connection reset"). The
database is a real PostgreSQL behind a loopback proxy that the test cuts and restores."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import openai
import pytest
from sqlalchemy.engine import make_url

from service.db import migrations
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.backends import postgres_database
from tests.factories import make_key, make_tenant
from tests.live import live_api
from tests.tcp_proxy import TcpProxy, tcp_proxy


@dataclass(frozen=True)
class Outage:
    base_url: str
    proxy: TcpProxy
    key: str


@pytest.fixture()
def outage(settings: Settings) -> Iterator[Outage]:
    with postgres_database("tf_outage") as url:
        real = make_url(url)
        with tcp_proxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
            proxied = real.set(host="127.0.0.1", port=proxy.port)
            configured = settings.model_copy(
                update={"database_url": proxied.render_as_string(hide_password=False)}
            )
            migrations.upgrade(configured)
            database = Database.from_url(configured.database_url)
            try:
                with session_scope(database.sessions) as session:
                    key = make_key(session, make_tenant(session))
                with live_api(configured, database) as base_url:
                    yield Outage(base_url, proxy, key)
            finally:
                database.engine.dispose()


def test_a_database_outage_is_a_503_with_retry_after_on_a_connection_that_survives(
    outage: Outage,
) -> None:
    base_url, proxy = outage.base_url, outage.proxy
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


def test_a_route_that_loses_the_database_mid_request_answers_503(outage: Outage) -> None:
    """The caller's key is known (cached): the outage is met by the route's own queries."""
    client = openai.OpenAI(api_key=outage.key, base_url=f"{outage.base_url}/v1", max_retries=0)
    assert client.fine_tuning.jobs.list().data == []
    outage.proxy.cut()
    with pytest.raises(openai.APIStatusError) as raised:
        client.fine_tuning.jobs.list()
    assert raised.value.status_code == 503
    assert raised.value.response.headers["retry-after"] == "5"
    outage.proxy.restore()
    assert client.fine_tuning.jobs.list().data == []  # the same client's pool still works
