/*
 * The agent desktop: wires the WebSocket (socket.js), the state (model.js) and the views
 * (views.js, Preact + htm, vendored). Every text reaches the page as Preact text nodes,
 * never as HTML. No inline script: the page's settings come from a JSON data block.
 */
import { html, render } from "./vendor/htm-preact-standalone.mjs";
import { Outbox, Socket, newCid, socketUrl } from "./socket.js";
import { initial, reduce, resumeMap, selectedCard } from "./model.js";
import { App } from "./views.js";

const cfg = JSON.parse(document.getElementById("desk-config").textContent);
const API = cfg.api_url.replace(/\/$/, "");
const TYPING_EVERY_MS = 2000;
const SIGNED_OUT_CLOSE_CODES = [4401, 4403];
const SIGNED_OUT_ERRORS = ["not_signed_in", "unauthorized", "session_ended"];

const root = document.getElementById("desk");
const outbox = new Outbox("hotline.desk.outbox." + cfg.agent_id);
const MARKS_KEY = "hotline.desk.marks." + cfg.agent_id;
const MARKS_MAX = 50;  // conversations whose marks are kept
const gone = new Set(); // chats wrapped up or handed on: their marks are dropped
const sentRead = {};   // conv -> seq sent in a `read` frame on this connection
const lastTyping = {}; // conv -> ms
let state = { ...initial(Date.now()), ...loadMarks() };
let drawing = false;

const sock = new Socket({
  url: socketUrl(cfg.ws_url),
  hello: () => ({ t: "hello", role: "agent", resume: resumeMap(state) }),
  onFrame,
  onStatus: (status) => {
    if (state.conn !== "signed_out") {
      dispatch({ type: "conn", status });
    }
  },
  onClose: (code) => {
    if (SIGNED_OUT_CLOSE_CODES.includes(code)) {
      signedOut();
      return false;
    }
    return true;
  }
});

/**
 * What the agent has read and what the customers have received/read, kept across a reload
 * of this page: {readUpTo, receipts} of live chats. The server replays the customers' marks
 * when the desktop resumes a chat (the higher one wins), so these only bridge the reload.
 */
function loadMarks() {
  const seq = (v) => (Number.isInteger(v) && v >= 0 ? v : 0);
  try {
    const saved = JSON.parse(window.localStorage.getItem(MARKS_KEY) || "{}") || {};
    const readUpTo = {};
    const receipts = {};
    for (const [conv, n] of Object.entries(saved.readUpTo || {})) {
      readUpTo[conv] = seq(n);
    }
    for (const [conv, r] of Object.entries(saved.receipts || {})) {
      receipts[conv] = { delivered: seq(r && r.delivered), read: seq(r && r.read) };
    }
    return { readUpTo, receipts };
  } catch (err) {
    return {}; // unreadable or no storage: start from nothing
  }
}

function saveMarks() {
  const only = (obj) => Object.fromEntries(Object.entries(obj)
    .filter(([conv]) => !gone.has(conv)).slice(-MARKS_MAX));
  try {
    window.localStorage.setItem(MARKS_KEY, JSON.stringify({
      readUpTo: only(state.readUpTo), receipts: only(state.receipts) }));
  } catch (err) {
    // storage full or disabled: the marks still live in memory
  }
}

function signedOut() {
  dispatch({ type: "conn", status: "signed_out" });
}

function draw() {
  if (drawing) {
    return;
  }
  drawing = true;
  queueMicrotask(() => {
    drawing = false;
    render(html`<${App} state=${state} cfg=${cfg} act=${actions} />`, root);
  });
}

/** Mark the selected chat read (the panel is on screen) and tell the server. */
function readSelected() {
  const card = selectedCard(state);
  if (!card || card.conv === null || document.visibilityState !== "visible") {
    return;
  }
  const c = state.convs[card.conv];
  const high = c ? c.high : 0;
  if (high > (state.readUpTo[card.conv] || 0)) {
    state = reduce(state, { type: "read", conv: card.conv, seq: high });
  }
  if (high > (sentRead[card.conv] || 0) && sock.send({ t: "read", conv: card.conv, seq: high })) {
    sentRead[card.conv] = high;
  }
}

function dispatch(action) {
  const was = state.selected;
  const before = state;
  state = reduce(state, action);
  readSelected();
  if (state.readUpTo !== before.readUpTo || state.receipts !== before.receipts) {
    saveMarks();
  }
  draw();
  if (state.selected !== was && state.selected !== null) {
    loadPop(state.selected); // a new selection: by a click, or by an arriving card
  }
}

function flush() {
  for (const e of outbox.all()) {
    sock.send({ t: "send", conv: e.conv, cid: e.cid, text: e.text });
  }
}

function onFrame(f) {
  const now = Date.now();
  if (f.t === "welcome") {
    sock.ready();
    for (const k of Object.keys(sentRead)) {
      delete sentRead[k];
    }
    flush();
  } else if (f.t === "ack") {
    outbox.remove(f.cid);
  } else if (f.t === "card_gone") {
    gone.add(String(f.contact));
    saveMarks();
  } else if (f.t === "msg" && f.from === "agent" && f.cid) {
    outbox.remove(f.cid);
  } else if (f.t === "error") {
    if (SIGNED_OUT_ERRORS.includes(f.code)) {
      signedOut();
      sock.stop();
      return;
    }
    if (f.code === "rate_limited") {
      setTimeout(flush, 2000);
      return;
    }
    if (f.ref) {
      outbox.remove(f.ref);
    }
  }
  const before = f.t === "msg" && state.convs[String(f.conv)] ? state.convs[String(f.conv)].high : 0;
  dispatch({ type: "frame", frame: f, now });
  if (f.t === "msg" && f.from === "customer" && typeof f.seq === "number" && f.seq > before) {
    sock.send({ t: "seen", conv: f.conv, seq: f.seq });
  }
  if (f.t === "typing") {
    setTimeout(tick, 4050);
  }
}

async function getJson(path) {
  const resp = await fetch(API + path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (resp.status === 401) {
    signedOut();
  }
  if (!resp.ok) {
    throw new Error(path + ": " + resp.status);
  }
  return resp.json();
}

/** Lists arrive as [[value, label], ...] or [value, ...] or [{name, label}, ...]. */
function pairs(list) {
  return (Array.isArray(list) ? list : []).map((x) => {
    if (Array.isArray(x)) {
      return [String(x[0]), String(x.length > 1 ? x[1] : x[0])];
    }
    if (x && typeof x === "object") {
      const v = String(x.name ?? x.id ?? x.code ?? "");
      return [v, String(x.label ?? x.title ?? v)];
    }
    return [String(x), String(x)];
  });
}

function loadLists() {
  getJson("/wrapup-codes").then((j) => dispatch({ type: "lists", name: "codes", items: pairs(j.codes) }))
    .catch(() => dispatch({ type: "lists", name: "codes", items: [] }));
  getJson("/queues").then((j) => dispatch({ type: "lists", name: "queues", items: pairs(j.queues) }))
    .catch(() => dispatch({ type: "lists", name: "queues", items: [] }));
}

function loadPop(contact) {
  const have = state.pops[contact];
  if (have && have.status !== "failed") {
    return;
  }
  dispatch({ type: "pop", contact, status: "loading" });
  getJson("/contacts/" + encodeURIComponent(contact) + "/pop")
    .then((data) => dispatch({ type: "pop", contact, status: "ok", data }))
    .catch(() => dispatch({ type: "pop", contact, status: "failed" }));
}

const actions = {
  setState(next, reason) {
    sock.send({ t: "state", state: next, reason: reason || "" });
  },
  logout() {
    sock.send({ t: "state", state: "logout", reason: "" });
  },
  accept(contact) {
    if (sock.send({ t: "accept", contact })) {
      dispatch({ type: "answered", contact });
    }
  },
  reject(contact) {
    if (sock.send({ t: "reject", contact })) {
      dispatch({ type: "answered", contact });
    }
  },
  select(contact) {
    dispatch({ type: "select", contact });
  },
  send(conv, text) {
    const entry = { cid: newCid(), conv, text, at: new Date().toISOString() };
    outbox.add(entry);
    dispatch({ type: "sending", ...entry });
    sock.send({ t: "send", conv, cid: entry.cid, text });
  },
  typing(conv) {
    const now = Date.now();
    if (now - (lastTyping[conv] || 0) >= TYPING_EVERY_MS && sock.send({ t: "typing", conv })) {
      lastTyping[conv] = now;
    }
  },
  end(conv) {
    sock.send({ t: "end", conv });
  },
  wrapup(contact, code, notes) {
    if (sock.send({ t: "wrapup", contact, code, notes })) {
      dispatch({ type: "note", contact, note: "wrapup" });
    }
  },
  transfer(contact, queue) {
    if (sock.send({ t: "transfer", contact, queue })) {
      dispatch({ type: "note", contact, note: "transfer" });
    }
  }
};

function tick() {
  dispatch({ type: "tick", now: Date.now() });
}

function restoreOutbox() {
  for (const e of outbox.all()) {
    if (typeof e.conv === "string" && typeof e.text === "string") {
      state = reduce(state, { type: "sending", ...e });
    } else {
      outbox.remove(e.cid);
    }
  }
}

restoreOutbox();
root.textContent = ""; // the "connecting" placeholder of the template
draw();
setInterval(tick, 1000);
document.addEventListener("visibilitychange", () => dispatch({ type: "tick", now: Date.now() }));
loadLists();
sock.start();
