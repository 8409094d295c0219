/*
 * wsocket.js: the browser client of wsocket's real-time layer.
 *
 * Speaks JSON-RPC 2.0 over one WebSocket: events both ways, calls both ways,
 * reconnection with exponential backoff and jitter, and a bounded queue for
 * the events emitted while disconnected. No dependencies.
 *
 *   const client = new WSocketClient("/ws");
 *   client.onConnect(() => client.emit("chat.join", {room: "lobby"}));
 *   client.on("chat.message", (params) => show(params));
 *   const sum = await client.call("add", [1, 2]);
 *
 * Served by wsocket at /wsocket.js; also loads as a CommonJS module.
 * MIT licence, part of wsocket.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.WSocketClient = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var DEFAULTS = {
    reconnect: true, // reopen after a close we did not ask for
    minDelay: 500, // ms before the first reconnection attempt
    maxDelay: 30000, // ms, the bound of the backoff
    maxQueue: 100, // events kept while disconnected (oldest dropped beyond)
    callTimeout: 10000, // ms, default timeout of call()
    protocols: undefined, // WebSocket subprotocols
  };

  // JSON-RPC 2.0 error codes the client uses in its replies.
  var METHOD_NOT_FOUND = -32601;
  var INTERNAL_ERROR = -32603;

  /** A call that failed: an error reply (code, message, data), a timeout or a lost connection. */
  class RPCError extends Error {
    constructor(code, message, data) {
      super(message);
      this.name = "RPCError";
      this.code = code;
      this.data = data;
    }
  }

  function failure(name, message) {
    var error = new Error(message);
    error.name = name;
    error.code = null;
    error.data = undefined;
    return error;
  }

  /**
   * The WebSocket URL for `url`, resolved against `base` (the page's address
   * in a browser): "/ws" on https://host/page gives wss://host/ws.
   */
  function resolveURL(url, base) {
    var resolved;
    try {
      resolved = base === undefined ? new URL(url) : new URL(url, base);
    } catch (e) {
      throw new TypeError(
        "WSocketClient: " + JSON.stringify(url) + " is not a URL" +
          (base === undefined ? " (give an absolute ws:// or wss:// URL outside a page)" : "")
      );
    }
    if (resolved.protocol === "http:") resolved.protocol = "ws:";
    else if (resolved.protocol === "https:") resolved.protocol = "wss:";
    if (resolved.protocol !== "ws:" && resolved.protocol !== "wss:") {
      throw new TypeError("WSocketClient: " + resolved.protocol + " URLs are not WebSocket URLs");
    }
    resolved.hash = "";
    return resolved.href;
  }

  /**
   * Milliseconds to wait before reconnection attempt number `attempt` (0, 1,
   * 2...): min(maxDelay, minDelay * 2^attempt), times a random factor in
   * [0.5, 1) so that many clients dropped at once do not return at once.
   */
  function backoff(attempt, minDelay, maxDelay, random) {
    var ceiling = Math.min(maxDelay, minDelay * Math.pow(2, Math.min(attempt, 30)));
    return Math.round(ceiling * (0.5 + 0.5 * (random || Math.random)()));
  }

  class WSocketClient {
    /**
     * Connect to a wsocket events endpoint (at once, and again after any
     * close that `disconnect()` did not ask for).
     *
     * @param {string} url  "/ws", "ws://host/ws", "https://host/ws"...;
     *   relative URLs resolve against the page.
     * @param {object} [options]  reconnect, minDelay, maxDelay, maxQueue,
     *   callTimeout, protocols (see DEFAULTS above).
     */
    constructor(url, options) {
      var base = typeof location !== "undefined" ? location.href : undefined;
      this.url = resolveURL(url, base);
      this.options = Object.assign({}, DEFAULTS, options || {});
      /** Events dropped from a full queue while disconnected. */
      this.dropped = 0;
      this._listeners = new Map(); // method -> [fn]
      this._handlers = new Map(); // method -> fn (server-to-client calls)
      this._onConnect = [];
      this._onDisconnect = [];
      this._queue = []; // messages waiting for a connection
      this._calls = new Map(); // id -> {resolve, reject, timer, sent}
      this._nextId = 1;
      this._ws = null;
      this._open = false;
      this._wanted = true; // false once disconnect() is called
      this._attempt = 0;
      this._connections = 0;
      this._timer = null;
      this._openSocket();
    }

    /** True while the WebSocket is open. */
    get connected() {
      return this._open;
    }

    /** Call fn(params) for every `method` event the server sends. */
    on(method, fn) {
      var list = this._listeners.get(method);
      if (!list) this._listeners.set(method, (list = []));
      list.push(fn);
      return this;
    }

    /** Stop calling fn (or every listener, without fn) for `method`. */
    off(method, fn) {
      var list = this._listeners.get(method);
      if (list && fn) list.splice(list.indexOf(fn) >>> 0, 1);
      else this._listeners.delete(method);
      return this;
    }

    /**
     * Answer the server's calls of `method` with fn(params): its return
     * value (or what its promise resolves to) is the result; an error it
     * throws is the error reply (with its `code` and `data` when it has a
     * numeric code, else -32603).
     */
    handle(method, fn) {
      this._handlers.set(method, fn);
      return this;
    }

    /**
     * Call fn({reconnected}) each time the connection opens. This is where
     * an app joins its rooms: a reconnected client is a new connection on
     * the server, in no room. Events emitted here go out before the ones
     * queued while disconnected.
     */
    onConnect(fn) {
      this._onConnect.push(fn);
      return this;
    }

    /**
     * Call fn({code, reason, reconnecting}) each time an open connection
     * closes. Calls waiting for a reply have been rejected by then.
     */
    onDisconnect(fn) {
      this._onDisconnect.push(fn);
      return this;
    }

    /**
     * Send an event (a JSON-RPC notification). While disconnected it waits
     * in a queue of `maxQueue` events (the oldest are dropped beyond, and
     * counted in `dropped`) and goes out once the connection is back.
     */
    emit(method, params) {
      this._send(message(method, params), false);
    }

    /**
     * Call `method` on the server; resolves to its result. Rejects with an
     * RPCError (code, message, data) for an error reply, or an Error named
     * "TimeoutError" after `timeout` ms (default `callTimeout`), or named
     * "ConnectionClosed" when the connection closes before the reply. A
     * call made while disconnected waits for the connection, within its
     * timeout.
     */
    call(method, params, options) {
      var timeout = (options && options.timeout) || this.options.callTimeout;
      var id = this._nextId++;
      var request = message(method, params);
      request.id = id;
      var self = this;
      return new Promise(function (resolve, reject) {
        var entry = { resolve: resolve, reject: reject, sent: false, timer: null };
        entry.timer = setTimeout(function () {
          self._calls.delete(id);
          self._queue = self._queue.filter(function (item) {
            return item.id !== id;
          });
          reject(failure("TimeoutError", "no reply to " + method + " within " + timeout + " ms"));
        }, timeout);
        self._calls.set(id, entry);
        self._send(request, true);
      });
    }

    /** Close the connection (1000) and stop reconnecting; rejects pending calls. */
    disconnect() {
      this._wanted = false;
      clearTimeout(this._timer);
      this._timer = null;
      var queued = this._queue;
      this._queue = [];
      queued.forEach(function (item) {
        if (item.id !== undefined) this._fail(item.id, "ConnectionClosed", "disconnected");
      }, this);
      var ws = this._ws;
      if (ws) {
        ws.close(1000);
        this._closed(ws, 1000, "");
      }
    }

    /** Connect again after disconnect(). */
    connect() {
      this._wanted = true;
      if (this._ws) return;
      clearTimeout(this._timer);
      this._timer = null;
      this._attempt = 0;
      this._openSocket();
    }

    // -- internals ---------------------------------------------------------

    _send(msg, isCall) {
      if (this._open) {
        this._write(msg);
        return;
      }
      if (!isCall && this._queue.length >= this.options.maxQueue) {
        // Drop the oldest event, never a call: calls have their timeout.
        var index = this._queue.findIndex(function (item) {
          return item.id === undefined;
        });
        if (index < 0) return void this.dropped++;
        this._queue.splice(index, 1);
        this.dropped++;
      }
      this._queue.push(msg);
    }

    _write(msg) {
      if (msg.id !== undefined) {
        var entry = this._calls.get(msg.id);
        if (!entry) return; // timed out while queued
        entry.sent = true;
      }
      this._ws.send(JSON.stringify(msg));
    }

    _openSocket() {
      var ws = new WebSocket(this.url, this.options.protocols);
      this._ws = ws;
      var self = this;
      ws.onopen = function () {
        if (self._ws !== ws) return;
        self._attempt = 0;
        self._open = true;
        var queued = self._queue;
        self._queue = [];
        var reconnected = self._connections++ > 0;
        self._onConnect.slice().forEach(function (fn) {
          report(fn, { reconnected: reconnected });
        });
        queued.forEach(function (msg) {
          if (self._open) self._write(msg);
          else self._queue.push(msg);
        });
      };
      ws.onmessage = function (event) {
        if (self._ws === ws) self._received(event.data);
      };
      ws.onclose = function (event) {
        self._closed(ws, event.code, event.reason);
      };
      ws.onerror = function () {
        // On an open socket a close event follows, and decides. A socket
        // that failed to open gets no close event in some runtimes (Node
        // 20), so treat the failure as the close (1006, abnormal).
        if (self._ws === ws && !self._open) {
          self._closed(ws, 1006, "");
          try {
            ws.close();
          } catch (e) {
            // closing a socket that never opened may throw; it is gone anyway
          }
        }
      };
    }

    _closed(ws, code, reason) {
      if (this._ws !== ws) return;
      this._ws = null;
      var wasOpen = this._open;
      this._open = false;
      // Replies to calls sent on this connection can no longer come.
      this._calls.forEach(function (entry, id) {
        if (entry.sent) this._fail(id, "ConnectionClosed", "connection closed (" + code + ")");
      }, this);
      var reconnecting = this._wanted && this.options.reconnect;
      if (wasOpen) {
        this._onDisconnect.slice().forEach(function (fn) {
          report(fn, { code: code, reason: reason, reconnecting: reconnecting });
        });
      }
      // A disconnect callback may have called disconnect() or connect().
      if (reconnecting && this._wanted && !this._ws && !this._timer) {
        var self = this;
        var delay = backoff(this._attempt++, this.options.minDelay, this.options.maxDelay);
        this._timer = setTimeout(function () {
          self._timer = null;
          if (self._wanted && !self._ws) self._openSocket();
        }, delay);
      }
    }

    _fail(id, name, text) {
      var entry = this._calls.get(id);
      if (!entry) return;
      this._calls.delete(id);
      clearTimeout(entry.timer);
      entry.reject(failure(name, text));
    }

    _received(text) {
      var data;
      try {
        data = JSON.parse(text);
      } catch (e) {
        return; // not JSON-RPC: nothing to answer to
      }
      var items = Array.isArray(data) ? data : [data];
      var self = this;
      var answers = items.map(function (item) {
        return self._item(item);
      });
      var replies = answers.filter(function (answer) {
        return answer !== undefined;
      });
      if (!replies.length) return;
      var ws = this._ws;
      Promise.all(replies).then(function (done) {
        // Notifications in a batch get no reply; an all-notification
        // batch gets nothing.
        done = done.filter(function (reply) {
          return reply !== null;
        });
        if (!done.length || self._ws !== ws || !self._open) return;
        ws.send(JSON.stringify(Array.isArray(data) ? done : done[0]));
      });
    }

    // Returns undefined (nothing to answer) or a promise of a reply (or null).
    _item(item) {
      if (item === null || typeof item !== "object") return undefined;
      if (typeof item.method !== "string") {
        this._reply(item);
        return undefined;
      }
      if (item.id === undefined) {
        (this._listeners.get(item.method) || []).slice().forEach(function (fn) {
          report(fn, item.params);
        });
        return undefined;
      }
      var handler = this._handlers.get(item.method);
      var id = item.id;
      if (!handler) {
        return Promise.resolve({
          jsonrpc: "2.0",
          id: id,
          error: { code: METHOD_NOT_FOUND, message: "Method not found: " + item.method },
        });
      }
      return new Promise(function (resolve) {
        resolve(handler(item.params));
      }).then(
        function (result) {
          return { jsonrpc: "2.0", id: id, result: result === undefined ? null : result };
        },
        function (error) {
          var body = { code: INTERNAL_ERROR, message: "Internal error" };
          if (error && typeof error.code === "number" && Number.isInteger(error.code)) {
            body = { code: error.code, message: String(error.message || "") };
            if (error.data !== undefined) body.data = error.data;
          } else if (error && error.message) {
            body.message = String(error.message);
          }
          return { jsonrpc: "2.0", id: id, error: body };
        }
      );
    }

    _reply(item) {
      var entry = this._calls.get(item.id);
      if (!entry) return;
      this._calls.delete(item.id);
      clearTimeout(entry.timer);
      if (item.error && typeof item.error === "object") {
        entry.reject(new RPCError(item.error.code, String(item.error.message), item.error.data));
      } else {
        entry.resolve(item.result);
      }
    }
  }

  function message(method, params) {
    if (typeof method !== "string") throw new TypeError("WSocketClient: the method must be a string");
    var msg = { jsonrpc: "2.0", method: method };
    if (params !== undefined) {
      if (params === null || typeof params !== "object") {
        throw new TypeError("WSocketClient: params must be an object or an array (JSON-RPC 2.0), or left out");
      }
      msg.params = params;
    }
    return msg;
  }

  // An error in one app callback must not stop the others, nor the client.
  function report(fn, arg) {
    try {
      fn(arg);
    } catch (error) {
      setTimeout(function () {
        throw error;
      });
    }
  }

  WSocketClient.RPCError = RPCError;
  WSocketClient.resolveURL = resolveURL;
  WSocketClient.backoff = backoff;
  WSocketClient.DEFAULTS = DEFAULTS;
  return WSocketClient;
});
