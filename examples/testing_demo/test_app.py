"""Tests of ``app.py`` with wsocket's TestClient: run them with pytest."""

from __future__ import annotations

import pytest
from app import app

from wsocket import HandshakeError
from wsocket.testing import TestClient


@pytest.fixture
def client():
    return TestClient(app, base_url="http://localhost:8000")


def test_home_page(client):
    response = client.get("/", query={"name": "Zoé"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == "Hello, Zoé!"


def test_unknown_page(client):
    assert client.get("/nowhere").status_code == 404


def test_login_sets_a_cookie(client):
    response = client.post("/login", data={"user": "ada"})
    assert response.status_code == 200
    assert client.cookies == {"user": "ada"}
    assert client.get("/me").json() == {"user": "ada"}


def test_login_needs_a_name(client):
    assert client.post("/login", data={"user": ""}).status_code == 400
    assert client.get("/me").json() == {"user": None}


def test_chat(client):
    with client.websocket_connect("/chat") as ws:
        assert ws.receive() == "welcome, guest"
        ws.send("hello")
        assert ws.receive() == "HELLO"


def test_chat_knows_the_logged_in_user(client):
    client.post("/login", data={"user": "ada"})
    with client.websocket_connect("/chat") as ws:
        assert ws.receive() == "welcome, ada"


def test_chat_quit_closes_the_connection(client):
    with client.websocket_connect("/chat") as ws:
        ws.receive()
        ws.send("/quit")
        assert ws.receive() is None
        assert ws.close_code == 1000
        assert ws.close_reason == "bye"


def test_unknown_room(client):
    with client.websocket_connect("/lobby") as ws:
        assert ws.receive() is None
        assert ws.close_code == 4004


def test_other_sites_cannot_open_the_chat(client):
    with pytest.raises(HandshakeError) as refused:
        client.websocket_connect("/chat", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
