/*
 * What the chat panel keeps in localStorage between visits: the visitor token, the highest
 * seq shown per conversation (hello.resume), a bounded copy of the transcript, the receipts
 * and the outbox (socket.js). A browser without storage still works from memory.
 */

export const KEY = {
  visitor: "hotline.visitor", resume: "hotline.resume", outbox: "hotline.outbox",
  transcript: "hotline.transcript", receipts: "hotline.receipts"
};

export function load(key, fallback) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (err) {
    return fallback;
  }
}

/** Store a value as JSON (a string as itself); null removes the key. */
export function keep(key, value) {
  try {
    if (value === null) {
      window.localStorage.removeItem(key);
    } else {
      window.localStorage.setItem(key, typeof value === "string" ? value : JSON.stringify(value));
    }
  } catch (err) {
    // storage disabled or full: this page still works from memory
  }
}

/** The visitor token is kept as a bare string (key "hotline.visitor"). */
export function storedVisitor() {
  try {
    return window.localStorage.getItem(KEY.visitor);
  } catch (err) {
    return null;
  }
}
