// wsocket.js against a real server (tests/js/client_app.py), under node --test.
// tests/test_js_client.py starts the server and passes its URL in WSOCKET_URL.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const WSocketClient = require(path.join(__dirname, "..", "..", "wsocket", "realtime", "wsocket.js"));

const URL_ = process.env.WSOCKET_URL;
const HTTP_URL = URL_ && URL_.replace(/^ws/, "http");

// Resolves with the params of the next `method` event; rejects after `ms`.
function next(client, method, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no " + method + " within " + ms + " ms")), ms);
    const fn = (params) => {
      clearTimeout(timer);
      client.off(method, fn);
      resolve(params);
    };
    client.on(method, fn);
  });
}

// Resolves once predicate() is true; rejects after `ms`.
function until(predicate, ms = 5000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (predicate()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error("condition not met within " + ms + " ms"));
      }
    }, 10);
  });
}

function open(options) {
  const client = new WSocketClient(URL_, Object.assign({ minDelay: 50, maxDelay: 200 }, options));
  const connected = new Promise((resolve) => client.onConnect(resolve));
  return { client, connected };
}

test("resolveURL maps page addresses to WebSocket URLs", () => {
  assert.equal(WSocketClient.resolveURL("/ws", "http://example.com:8080/chat/?x=1"), "ws://example.com:8080/ws");
  assert.equal(WSocketClient.resolveURL("/ws", "https://example.com/page#top"), "wss://example.com/ws");
  assert.equal(WSocketClient.resolveURL("ws", "https://example.com/app/page"), "wss://example.com/app/ws");
  assert.equal(WSocketClient.resolveURL("wss://other.org/ws?t=1", "http://example.com/"), "wss://other.org/ws?t=1");
  assert.throws(() => WSocketClient.resolveURL("/ws"), /absolute ws:\/\/ or wss:\/\//);
  assert.throws(() => WSocketClient.resolveURL("ftp://example.com/ws"), /ftp: URLs are not WebSocket URLs/);
  assert.throws(() => new WSocketClient("/ws"), TypeError);
});

test("params must be an object or an array, as JSON-RPC 2.0 says", () => {
  const client = new WSocketClient("ws://127.0.0.1:9/ws", { reconnect: false });
  try {
    assert.throws(() => client.emit("x", 3), /params must be an object or an array/);
    assert.throws(() => client.emit("x", "text"), /params must be an object or an array/);
    assert.throws(() => client.emit("x", null), /params must be an object or an array/);
    assert.throws(() => client.call("x", 3), /params must be an object or an array/);
    assert.throws(() => client.emit(4), /the method must be a string/);
  } finally {
    client.disconnect();
  }
});

test("backoff doubles from minDelay, stays under maxDelay, and is jittered", () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(WSocketClient.backoff(0, 500, 30000, low), 250);
  assert.equal(WSocketClient.backoff(0, 500, 30000, high), 500);
  assert.equal(WSocketClient.backoff(3, 500, 30000, high), 4000);
  assert.equal(WSocketClient.backoff(3, 500, 30000, low), 2000);
  for (const attempt of [7, 8, 50, 1000]) {
    assert.equal(WSocketClient.backoff(attempt, 500, 30000, high), 30000);
    assert.equal(WSocketClient.backoff(attempt, 500, 30000, low), 15000);
  }
  const seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(WSocketClient.backoff(2, 500, 30000));
  assert.ok(seen.size > 1, "no jitter");
  for (const delay of seen) assert.ok(delay >= 1000 && delay <= 2000, String(delay));
});

test("calls: result, error reply, unknown method", async () => {
  const { client, connected } = open();
  try {
    assert.deepEqual(await connected, { reconnected: false });
    assert.equal(client.connected, true);
    assert.equal(await client.call("add", [2, 3]), 5);
    await assert.rejects(client.call("fail", ["because"]), (error) => {
      assert.ok(error instanceof WSocketClient.RPCError);
      assert.ok(error instanceof Error);
      assert.equal(error.code, 4000);
      assert.equal(error.message, "refused");
      assert.deepEqual(error.data, { why: ["because"] });
      return true;
    });
    await assert.rejects(client.call("nope"), { name: "RPCError", code: -32601 });
  } finally {
    client.disconnect();
  }
});

test("events both ways, in order", async () => {
  const { client, connected } = open();
  try {
    const hello = next(client, "hello");
    await connected;
    assert.equal(typeof (await hello).id, "string");
    const got = [];
    client.on("echoed", (params) => got.push(params));
    for (let i = 0; i < 20; i++) client.emit("echo", [i]);
    client.emit("echo"); // no params: the member is left out, the server gets None,
    // and emits an event without params
    await until(() => got.length === 21);
    assert.deepEqual(got.slice(0, 20), Array.from({ length: 20 }, (_, i) => [i]));
    assert.equal(got[20], undefined);
  } finally {
    client.disconnect();
  }
});

test("handle(): the server calls the client", async () => {
  const { client, connected } = open();
  try {
    await connected;
    client.handle("client.sum", (params) => params.reduce((a, b) => a + b, 0));
    client.handle("client.later", async (params) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { doubled: params[0] * 2 };
    });
    client.handle("client.refuse", () => {
      const error = new Error("not now");
      error.code = 4009;
      error.data = [1, 2];
      throw error;
    });
    client.handle("client.crash", () => {
      throw new TypeError("boom");
    });
    client.handle("client.nothing", () => undefined);
    const ask = async (method, params) => {
      const answer = next(client, "answer");
      client.emit("ask", { method, params });
      return answer;
    };
    assert.deepEqual(await ask("client.sum", [1, 2, 3]), { result: 6 });
    assert.deepEqual(await ask("client.later", [21]), { result: { doubled: 42 } });
    assert.deepEqual(await ask("client.refuse"), { code: 4009, message: "not now", data: [1, 2] });
    assert.deepEqual(await ask("client.crash"), { code: -32603, message: "boom", data: null });
    assert.deepEqual(await ask("client.nothing"), { result: null });
    assert.deepEqual(await ask("client.unknown"), {
      code: -32601,
      message: "Method not found: client.unknown",
      data: null,
    });
  } finally {
    client.disconnect();
  }
});

test("a call times out, and one pending at disconnect() is rejected", async () => {
  const { client, connected } = open();
  await connected;
  const started = Date.now();
  await assert.rejects(client.call("slow", { seconds: 2 }, { timeout: 150 }), { name: "TimeoutError" });
  const waited = Date.now() - started;
  assert.ok(waited >= 140 && waited < 1500, String(waited));
  const pending = client.call("slow", { seconds: 2 });
  client.disconnect();
  await assert.rejects(pending, { name: "ConnectionClosed" });
  assert.equal(client.connected, false);
  // Nothing reconnects after disconnect().
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(client.connected, false);
});

test("reconnects after the server closes, with the events queued meanwhile", async () => {
  const connects = [];
  const disconnects = [];
  const client = new WSocketClient(URL_, { minDelay: 50, maxDelay: 200, maxQueue: 3 });
  const got = [];
  client.on("echoed", (params) => got.push(params));
  client.onConnect((info) => {
    connects.push(info);
    client.emit("echo", ["joined " + connects.length]);
  });
  client.onDisconnect((info) => {
    disconnects.push(info);
    // Queued while disconnected: four events into a queue of three.
    for (let i = 1; i <= 4; i++) client.emit("echo", ["queued " + i]);
  });
  try {
    await until(() => connects.length === 1);
    const pending = client.call("slow", { seconds: 2 });
    client.emit("drop");
    await assert.rejects(pending, { name: "ConnectionClosed" });
    await until(() => connects.length === 2);
    assert.deepEqual(connects, [{ reconnected: false }, { reconnected: true }]);
    assert.deepEqual(disconnects, [{ code: 1012, reason: "restarting", reconnecting: true }]);
    assert.equal(client.dropped, 1);
    // What the connect callback sends goes first, then the queue, oldest dropped.
    await until(() => got.length === 5);
    assert.deepEqual(got.flat(), ["joined 1", "joined 2", "queued 2", "queued 3", "queued 4"]);
    assert.equal(await client.call("add", [1, 1]), 2);
  } finally {
    client.disconnect();
  }
});

test("a call made while disconnected waits for the connection", async () => {
  const client = new WSocketClient(URL_, { minDelay: 50, maxDelay: 200 });
  try {
    // The socket is still connecting: the call is queued, then sent.
    assert.equal(client.connected, false);
    assert.equal(await client.call("add", [20, 22]), 42);
  } finally {
    client.disconnect();
  }
});

test("reconnection attempts back off while the server is away", async () => {
  // A port nothing listens on: every attempt fails; none succeeds.
  const dead = new WSocketClient("ws://127.0.0.1:9/ws", { minDelay: 40, maxDelay: 160 });
  const created = [];
  const Original = global.WebSocket;
  global.WebSocket = class extends Original {
    constructor(...args) {
      super(...args);
      created.push(Date.now());
    }
  };
  try {
    await until(() => created.length >= 5, 5000);
  } finally {
    dead.disconnect();
    global.WebSocket = Original;
  }
  const gaps = created.slice(1).map((t, i) => t - created[i]);
  // Attempts 1, 2, 3, 4 wait at least half of 80, 160, 160, 160 ms.
  assert.ok(gaps.every((gap) => gap >= 35), gaps.join(","));
  assert.ok(gaps.every((gap) => gap < 1000), gaps.join(","));
  assert.equal(dead.connected, false);
});

test("the server serves this very file at /wsocket.js", async () => {
  const response = await fetch(new URL("/wsocket.js", HTTP_URL));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
  const fs = require("node:fs");
  const source = fs.readFileSync(path.join(__dirname, "..", "..", "wsocket", "realtime", "wsocket.js"), "utf8");
  assert.equal(await response.text(), source);
});
