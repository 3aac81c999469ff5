/*
 * The agent desktop's state and how each server frame (docs/REALTIME.md) and each local
 * action changes it: a pure reducer, no DOM and no socket (desk.js does the sending).
 *
 * Transcripts follow the protocol's rule: a message is taken only if its seq is above the
 * highest one taken for that conversation; own sends wait as items without a seq until
 * their ack (or their echo, matched by cid).
 */

export const TYPING_SHOWN_MS = 4000;
const ERROR_SHOWN_MS = 6000;

export function initial(now) {
  return {
    now,
    conn: "connecting",
    agent: null,      // the last `agent` frame
    offers: [],       // [{contact, medium, conv, customer, queue, total, deadline, answered}]
    cards: [],        // [{contact, medium, conv, customer, queue, since, state}]
    convs: {},        // conv -> {high, items: [{seq?, from, name, cid, text, file, at, own, failed}], typingUntil}
    receipts: {},     // conv -> {delivered, read}: what the customer has received / read
    readUpTo: {},     // conv -> the seq the agent has seen on screen
    selected: null,   // contact id (string)
    notes: {},        // contact -> "wrapup" | "transfer": what was just asked of the server
    pops: {},         // contact -> {status: "loading"|"ok"|"failed", data}
    codes: null,      // [[code, label]] once loaded
    queues: null,     // [[name, label]] once loaded
    error: null       // {text, until}
  };
}

const key = (id) => (id === null || id === undefined ? "" : String(id));

function upsert(list, item) {
  const i = list.findIndex((x) => x.contact === item.contact);
  if (i < 0) {
    return list.concat([item]);
  }
  const copy = list.slice();
  copy[i] = { ...list[i], ...item };
  return copy;
}

function conv(state, id) {
  return state.convs[id] || { high: 0, items: [], typingUntil: 0 };
}

function withConv(state, id, c) {
  return { ...state, convs: { ...state.convs, [id]: c } };
}

function message(state, f) {
  const id = key(f.conv);
  const c = conv(state, id);
  if (typeof f.seq !== "number" || f.seq <= c.high) {
    return state; // shown already: a replay
  }
  const item = { seq: f.seq, from: f.from, name: f.name || "", cid: f.cid || "", text: f.text || "",
    file: f.file || null, at: f.at || "", own: f.from === "agent" };
  const mine = f.from === "agent" && f.cid ? c.items.findIndex((x) => x.own && x.cid === f.cid) : -1;
  let items;
  if (mine >= 0) {
    items = c.items.slice();
    items[mine] = { ...items[mine], seq: f.seq, at: item.at || items[mine].at };
  } else {
    items = c.items.concat([item]);
  }
  return withConv(state, id, { ...c, high: f.seq, items,
    typingUntil: f.from === "customer" ? 0 : c.typingUntil });
}

function ack(state, f) {
  const id = key(f.conv);
  const c = conv(state, id);
  const i = c.items.findIndex((x) => x.own && x.cid === f.cid);
  if (i < 0 || c.items[i].seq) {
    return state;
  }
  const items = c.items.slice();
  items[i] = { ...items[i], seq: f.seq };
  return withConv(state, id, { ...c, items });
}

function failed(state, cid) {
  let next = state;
  for (const [id, c] of Object.entries(state.convs)) {
    const i = c.items.findIndex((x) => x.own && x.cid === cid && !x.seq);
    if (i >= 0) {
      const items = c.items.slice();
      items[i] = { ...items[i], failed: true };
      next = withConv(next, id, { ...c, items });
    }
  }
  return next;
}

function dropCard(state, contact) {
  const cards = state.cards.filter((c) => c.contact !== contact);
  const selected = state.selected === contact ? (cards[0] ? cards[0].contact : null) : state.selected;
  const notes = { ...state.notes };
  const pops = { ...state.pops };
  delete notes[contact];
  delete pops[contact];
  return { ...state, cards, selected, notes, pops };
}

const FRAMES = {
  agent: (s, f) => ({ ...s, agent: { state: f.state, reason: f.reason || "", chats: f.chats || 0,
    max_chats: f.max_chats || 0, voice: Boolean(f.voice) } }),
  offer: (s, f) => ({ ...s, offers: upsert(s.offers, { contact: key(f.contact), medium: f.medium,
    conv: f.conv === null || f.conv === undefined ? null : key(f.conv), customer: f.customer || "",
    queue: f.queue || "", total: Number(f.expires_in) || 0,
    deadline: s.now + 1000 * (Number(f.expires_in) || 0), answered: false }) }),
  offer_gone: (s, f) => ({ ...s, offers: s.offers.filter((o) => o.contact !== key(f.contact)) }),
  card: (s, f) => {
    const contact = key(f.contact);
    const card = { contact, medium: f.medium, conv: f.conv === null || f.conv === undefined ? null
      : key(f.conv), customer: f.customer || "", queue: f.queue || "", since: f.since || "",
      state: f.state || "connected" };
    const notes = { ...s.notes };
    if (card.state !== "wrap_up") {
      delete notes[contact];
    }
    return { ...s, cards: upsert(s.cards, card), notes,
      selected: s.selected === null && card.medium === "chat" ? contact : s.selected };
  },
  card_gone: (s, f) => dropCard(s, key(f.contact)),
  msg: message,
  ack,
  receipt: (s, f) => {
    const id = key(f.conv);
    const r = s.receipts[id] || { delivered: 0, read: 0 };
    const next = { delivered: Math.max(r.delivered, f.seq || 0),
      read: f.kind === "read" ? Math.max(r.read, f.seq || 0) : r.read };
    return { ...s, receipts: { ...s.receipts, [id]: next } };
  },
  typing: (s, f) => (f.from !== "customer" ? s
    : withConv(s, key(f.conv), { ...conv(s, key(f.conv)), typingUntil: s.now + TYPING_SHOWN_MS })),
  ended: (s, f) => ({ ...s, cards: s.cards.map((c) => (c.conv === key(f.conv) && c.state === "connected"
    ? { ...c, state: "ended" } : c)) }),
  error: (s, f) => {
    const next = f.ref ? failed(s, f.ref) : s;
    // a refused transfer (the call could not be moved): its button comes back
    const notes = Object.fromEntries(Object.entries(next.notes).filter(([, n]) => n !== "transfer"));
    return { ...next, notes, error: { text: String(f.message || f.code || ""), until: s.now + ERROR_SHOWN_MS } };
  }
};

export function reduce(state, action) {
  switch (action.type) {
    case "frame": {
      const handle = FRAMES[action.frame.t];
      return handle ? handle({ ...state, now: action.now }, action.frame) : state;
    }
    case "tick":
      return { ...state, now: action.now,
        error: state.error && state.error.until <= action.now ? null : state.error };
    case "conn":
      return { ...state, conn: action.status };
    case "select":
      return { ...state, selected: action.contact };
    case "sending": {
      const id = key(action.conv);
      const c = conv(state, id);
      if (c.items.some((x) => x.own && x.cid === action.cid)) {
        return state;
      }
      return withConv(state, id, { ...c, items: c.items.concat([{ from: "agent", name: "",
        cid: action.cid, text: action.text, file: null, at: action.at, own: true }]) });
    }
    case "failed":
      return failed(state, action.cid);
    case "read":
      return { ...state, readUpTo: { ...state.readUpTo, [key(action.conv)]: action.seq } };
    case "answered":
      return { ...state, offers: state.offers.map((o) => (o.contact === action.contact
        ? { ...o, answered: true } : o)) };
    case "note":
      return { ...state, notes: { ...state.notes, [action.contact]: action.note } };
    case "pop":
      return { ...state, pops: { ...state.pops, [action.contact]: { status: action.status,
        data: action.data || null } } };
    case "lists":
      return { ...state, [action.name]: action.items };
    default:
      return state;
  }
}

// ------------------------------------------------------------------ derived values

/** A UI string with its {placeholders} filled in (still text: Preact escapes it). */
export const fmt = (t, vars) => String(t || "").replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

/** sending, sent, delivered, read or failed: an own message's state, from acks and receipts. */
export function statusOf(item, receipts) {
  if (item.failed) {
    return "failed";
  }
  if (!item.seq) {
    return "sending";
  }
  const r = receipts || { delivered: 0, read: 0 };
  if (item.seq <= r.read) {
    return "read";
  }
  return item.seq <= r.delivered ? "delivered" : "sent";
}

export function unread(state, convId) {
  if (convId === null) {
    return 0;
  }
  const c = state.convs[convId];
  const upTo = state.readUpTo[convId] || 0;
  return c ? c.items.filter((x) => x.from === "customer" && x.seq > upTo).length : 0;
}

/** Messages in seq order, own sends still waiting for their ack last (in the order sent). */
export function ordered(items) {
  return items.slice().sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
}

export function selectedCard(state) {
  return state.cards.find((c) => c.contact === state.selected) || null;
}

/** The resume map for hello: the highest seq taken per conversation. */
export function resumeMap(state) {
  const out = {};
  for (const [id, c] of Object.entries(state.convs)) {
    if (c.high > 0) {
      out[id] = c.high;
    }
  }
  return out;
}

export function elapsed(since, now) {
  const t = Date.parse(since);
  if (Number.isNaN(t)) {
    return "";
  }
  const s = Math.max(0, Math.floor((now - t) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${Math.floor(s / 60)}:${two(s % 60)}`;
}

export function secondsLeft(offer, now) {
  return Math.max(0, Math.ceil((offer.deadline - now) / 1000));
}
