/*
 * The one WebSocket of docs/REALTIME.md, reconnecting: 0.5 s doubling to 10 s with jitter,
 * and at once when the browser comes back online or the page becomes visible again.
 * Knows nothing about chat: the page gives it a hello() to send on every connect and gets
 * every decoded frame. ready() (the page calls it on `welcome`) resets the backoff.
 * (A copy of cti/channels/chat/web/static/socket.js: each area's static folder stands alone.)
 */

export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 10000;

/** Milliseconds to wait before reconnect number `attempt` (0, 1, ...): base ±20 %. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 10));
  return Math.min(MAX_DELAY_MS, Math.round(base * (0.8 + 0.4 * random())));
}

export function socketUrl(path, loc = window.location) {
  const url = new URL(path, loc.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class Socket {
  /**
   * @param {{url: string, hello: () => object, onFrame: (f: object) => void,
   *          onStatus: (s: "connecting"|"up"|"down"|"stopped") => void,
   *          onClose?: (code: number) => boolean}} opts
   *   onClose returns false to stop reconnecting (e.g. the session has ended).
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.welcomed = false;
    this.stopped = false;
    this.everUp = false;
    this.wake = () => this.reconnectNow();
    this.onVisible = () => {
      if (document.visibilityState === "visible") {
        this.reconnectNow();
      }
    };
  }

  start() {
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.onVisible);
    if (this.ws) {
      this.ws.close(1000);
    }
    this.opts.onStatus("stopped");
  }

  get isUp() {
    return this.welcomed && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** The server welcomed us: sends may flow, the next drop starts the backoff afresh. */
  ready() {
    this.welcomed = true;
    this.everUp = true;
    this.attempt = 0;
    this.opts.onStatus("up");
  }

  /** Send a frame if connected and welcomed; false if it could not go now. */
  send(frame) {
    if (!this.isUp) {
      return false;
    }
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  reconnectNow() {
    if (this.stopped || this.ws !== null) {
      return;
    }
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  connect() {
    if (this.stopped || this.ws !== null) {
      return;
    }
    this.opts.onStatus(this.everUp ? "down" : "connecting");
    let sock;
    try {
      sock = new WebSocket(this.opts.url);
    } catch (err) {
      this.schedule();
      return;
    }
    this.ws = sock;
    this.welcomed = false;
    sock.addEventListener("open", () => {
      if (sock === this.ws) {
        sock.send(JSON.stringify(this.opts.hello()));
      }
    });
    sock.addEventListener("message", (event) => {
      if (sock !== this.ws || typeof event.data !== "string") {
        return;
      }
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return; // not JSON: not a frame of ours
      }
      if (frame && typeof frame === "object" && typeof frame.t === "string") {
        this.opts.onFrame(frame);
      }
    });
    sock.addEventListener("close", (event) => {
      if (sock !== this.ws) {
        return;
      }
      this.ws = null;
      this.welcomed = false;
      if (this.opts.onClose && this.opts.onClose(event.code) === false) {
        this.stop();
        return;
      }
      this.opts.onStatus(this.everUp || this.attempt > 0 ? "down" : "connecting");
      this.schedule();
    });
  }

  schedule() {
    if (this.stopped || this.timer !== null) {
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}

/** Unacknowledged sends, in memory and in localStorage, resent with the same cid. */
export class Outbox {
  constructor(storageKey) {
    this.key = storageKey;
    this.items = [];
    try {
      const saved = JSON.parse(window.localStorage.getItem(storageKey) || "[]");
      if (Array.isArray(saved)) {
        this.items = saved.filter((e) => e && typeof e.cid === "string");
      }
    } catch (err) {
      this.items = []; // unreadable: start empty
    }
  }

  save() {
    try {
      window.localStorage.setItem(this.key, JSON.stringify(this.items));
    } catch (err) {
      // storage full or disabled: the outbox still lives in memory
    }
  }

  add(entry) {
    this.items = this.items.filter((e) => e.cid !== entry.cid).concat([entry]);
    this.save();
  }

  has(cid) {
    return this.items.some((e) => e.cid === cid);
  }

  remove(cid) {
    const before = this.items.length;
    this.items = this.items.filter((e) => e.cid !== cid);
    if (this.items.length !== before) {
      this.save();
    }
  }

  all() {
    return this.items.slice();
  }
}

export function newCid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
