"""The echo example in a real browser: headless Chromium, driven over the
DevTools protocol with wsocket's own client."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import pytest
from integration.harness import (
    ROOT,
    RedisServer,
    ServerProcess,
    free_port,
    redis_missing,
    wait_for,
)

import wsocket

pytestmark = pytest.mark.timeout(120)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ECHO = os.path.join(ROOT, "examples", "echo.py")


class DevTools:
    """A minimal DevTools-protocol session over a wsocket client."""

    def __init__(self, url: str) -> None:
        self.ws = wsocket.connect(url, compression=None, max_message_size=None)
        self.ids = itertools.count(1)
        self.session: Optional[str] = None

    def call(
        self,
        method: str,
        timeout: float = 30,
        allow_error: bool = False,
        **params: Any,
    ) -> Dict[str, Any]:
        ident = next(self.ids)
        message: Dict[str, Any] = {"id": ident, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no answer to {method}"
            reply = json.loads(self.ws.receive(timeout=remaining))
            if reply.get("id") == ident:
                if allow_error and "error" in reply:
                    return {}
                assert "error" not in reply, reply
                return dict(reply["result"])

    def open_page(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call(
            "Target.attachToTarget", targetId=target, flatten=True
        )["sessionId"]
        # The navigation runs on its own: until it is done, an evaluation may
        # land in about:blank and see its context destroyed. Wait for the
        # page itself to be loaded.
        check = "document.readyState === 'complete' && location.href"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reply = self.call(
                "Runtime.evaluate",
                expression=check,
                returnByValue=True,
                allow_error=True,
            )
            if reply.get("result", {}).get("value") == url:
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} did not load")

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        result = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it with apt")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    active = profile / "DevToolsActivePort"
    try:
        assert wait_for(
            lambda: active.exists() and len(active.read_text().split()) == 2, 30
        ), "chromium did not open its DevTools port"
        port, path = active.read_text().split()
        tools = DevTools(f"ws://127.0.0.1:{port}{path}")
        yield tools
        tools.close()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def serve_echo(mode: str) -> ServerProcess:
    port = free_port()
    return ServerProcess(
        [sys.executable, ECHO, "--port", str(port), "--server", mode], port
    )


WAIT_FOR_LOG = """
new Promise((resolve, reject) => {
  const started = Date.now();
  const poll = setInterval(() => {
    const text = document.getElementById("log").textContent;
    if (text.includes(%s)) { clearInterval(poll); resolve(text); }
    else if (Date.now() - started > 15000) { clearInterval(poll); reject(text); }
  }, 20);
})
"""


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_echo_page_in_chromium(browser, mode):
    if mode == "gevent":
        pytest.importorskip("gevent")
    with serve_echo(mode) as server:
        browser.open_page(f"http://127.0.0.1:{server.port}/")
        assert "open" in browser.evaluate(WAIT_FOR_LOG % json.dumps("open"))
        browser.evaluate(
            'document.getElementById("m").value = "Hello from Chromium ✓";'
            'document.getElementById("f").requestSubmit(); true'
        )
        log = browser.evaluate(WAIT_FOR_LOG % json.dumps("< Hello from Chromium ✓"))
        assert "> Hello from Chromium ✓" in log
        # SIGTERM: the page hears 1001 (going away).
        server.signal(signal.SIGTERM)
        log = browser.evaluate(WAIT_FOR_LOG % json.dumps("closed"))
        assert "closed 1001" in log
        assert server.wait(15) == 0


def test_chromium_compression_and_large_messages(browser):
    with serve_echo("threading") as server:
        browser.open_page(f"http://127.0.0.1:{server.port}/")
        result = browser.evaluate(
            """
new Promise((resolve, reject) => {
  const ws = new WebSocket("ws://127.0.0.1:PORT/echo");
  ws.binaryType = "arraybuffer";
  const big = "x".repeat(3 * 1024 * 1024);
  const bytes = new Uint8Array(70000).map((_, i) => i % 251);
  const got = [];
  ws.onopen = () => { ws.send(big); ws.send(bytes); };
  ws.onmessage = (event) => {
    got.push(event.data);
    if (got.length === 2) {
      const back = new Uint8Array(got[1]);
      resolve({
        extensions: ws.extensions,
        text_ok: got[0] === big,
        binary_ok: back.length === bytes.length && back.every((v, i) => v === bytes[i]),
      });
      ws.close(1000);
    }
  };
  ws.onerror = () => reject("error");
  setTimeout(() => reject("timeout"), 20000);
})
""".replace("PORT", str(server.port))
        )
        # Chromium offers permessage-deflate and the echo app accepts it.
        assert result["extensions"].startswith("permessage-deflate"), result
        assert result["text_ok"] and result["binary_ok"], result


CHAT = os.path.join(ROOT, "examples", "chat", "app.py")

# Resolves with the value of EXPR once it is truthy, polled in the page;
# rejects after 20 s.
PAGE_WAIT = """
new Promise((resolve, reject) => {
  const started = Date.now();
  const poll = setInterval(() => {
    const value = (EXPR);
    if (value) { clearInterval(poll); resolve(value); }
    else if (Date.now() - started > 20000) {
      clearInterval(poll);
      const status = document.getElementById("status").textContent;
      reject(new Error("timed out; status: " + status));
    }
  }, 20);
})
"""
MESSAGES = (
    'Array.from(document.querySelectorAll("#messages li"), (li) => li.textContent)'
)


def serve_chat(port: int, *options: str) -> ServerProcess:
    return ServerProcess([sys.executable, CHAT, "--port", str(port), *options], port)


class ChatPage:
    """One chat page, in its own DevTools session."""

    def __init__(self, browser: DevTools, url: str) -> None:
        self.browser = browser
        browser.open_page(url)
        self.session = browser.session

    def evaluate(self, expression: str) -> Any:
        self.browser.session = self.session
        return self.browser.evaluate(expression)

    def wait(self, expression: str) -> Any:
        return self.evaluate(PAGE_WAIT.replace("EXPR", expression))

    def wait_status(self, status: str) -> None:
        self.wait(f'$("status").textContent === {json.dumps(status)}')

    def say(self, name: str, text: str) -> None:
        self.evaluate(
            f'document.getElementById("name").value = {json.dumps(name)};'
            f'document.getElementById("message").value = {json.dumps(text)};'
            'document.getElementById("send").requestSubmit(); true'
        )

    def wait_message(self, text: str) -> List[str]:
        found = f"{MESSAGES}.some((line) => line.includes({json.dumps(text)}))"
        self.wait(found)
        return list(self.evaluate(MESSAGES))


def test_chat_rooms_and_reconnection_in_chromium(browser):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    servers = [serve_chat(port).start()]
    try:
        alice, bob, carol = (ChatPage(browser, url) for _ in range(3))
        for page in (alice, bob, carol):
            page.wait_status("in lobby")
        carol.evaluate(
            'const room = document.getElementById("room"); room.value = "attic";'
            'room.dispatchEvent(new Event("change")); true'
        )
        carol.wait_status("in attic")

        alice.say("Alice", "Hello, lobby ✓")
        assert bob.wait_message("Hello, lobby ✓") == ["AliceHello, lobby ✓"]
        assert alice.wait_message("Hello, lobby ✓") == ["AliceHello, lobby ✓"]
        # Anything sent to the lobby would reach Carol before her own message.
        carol.say("Carol", "Anyone up here?")
        assert carol.wait_message("Anyone up here?") == ["CarolAnyone up here?"]
        assert bob.evaluate(MESSAGES) == ["AliceHello, lobby ✓"]

        # The server restarts on the same port: the pages reconnect by
        # themselves and join their rooms again.
        assert servers[0].stop() == 0
        for page in (alice, bob, carol):
            page.wait_status("reconnecting")
        servers.append(serve_chat(port).start())
        for page, room in ((alice, "lobby"), (bob, "lobby"), (carol, "attic")):
            page.wait_status(f"in {room}")
        bob.say("Bob", "Back again")
        assert alice.wait_message("Back again") == [
            "AliceHello, lobby ✓",
            "BobBack again",
        ]
        carol.say("Carol", "Still here")
        assert carol.wait_message("Still here") == [
            "CarolAnyone up here?",
            "CarolStill here",
        ]
        assert bob.wait_message("Back again") == [
            "AliceHello, lobby ✓",
            "BobBack again",
        ]
    finally:
        logs = []
        for server in servers:
            server.stop()
            logs.append(server.log())
            os.unlink(server.logfile.name)
    for log in logs:
        assert "Traceback" not in log, log


@pytest.mark.redis
def test_chat_across_two_processes_over_redis(browser):
    missing = redis_missing()
    if missing:
        pytest.skip(missing)
    redis = RedisServer().start()
    ports = [free_port(), free_port()]
    servers = [serve_chat(port, "--redis", redis.url).start() for port in ports]
    try:
        # One page on each process, both in the lobby, and one in the attic
        # on the first process.
        alice = ChatPage(browser, f"http://127.0.0.1:{ports[0]}/")
        bob = ChatPage(browser, f"http://127.0.0.1:{ports[1]}/")
        carol = ChatPage(browser, f"http://127.0.0.1:{ports[0]}/")
        for page in (alice, bob, carol):
            page.wait_status("in lobby")
        carol.evaluate(
            'const room = document.getElementById("room"); room.value = "attic";'
            'room.dispatchEvent(new Event("change")); true'
        )
        carol.wait_status("in attic")
        alice.say("Alice", "from process A")
        assert bob.wait_message("from process A") == ["Alicefrom process A"]
        bob.say("Bob", "from process B")
        assert alice.wait_message("from process B") == [
            "Alicefrom process A",
            "Bobfrom process B",
        ]
        # Each message reached Bob once, and the attic heard nothing.
        assert bob.evaluate(MESSAGES) == ["Alicefrom process A", "Bobfrom process B"]
        carol.say("Carol", "attic only")
        assert carol.wait_message("attic only") == ["Carolattic only"]
    finally:
        logs = []
        for server in servers:
            server.stop()
            logs.append(server.log())
            os.unlink(server.logfile.name)
        redis.stop()
    for log in logs:
        assert "Traceback" not in log and "ERROR" not in log, log
