/*
 * The customer chat panel (docs/REALTIME.md). Every chat text goes on the page through
 * textContent: what customers and agents type is untrusted. No inline script, no eval.
 *
 * Nothing lost, nothing twice: a message is shown only if its seq is above the highest shown
 * for the conversation (kept, with a bounded copy of the transcript, in localStorage and sent
 * as hello.resume); own sends stay in the outbox until their ack and are resent with the same
 * cid after a reconnect.
 */
import { Outbox, Socket, newCid, socketUrl } from "./socket.js";
import { Files, humanSize, refusal } from "./files.js";
import { MessageList, buildEmoji, setStatus as advance } from "./list.js";
import { KEY, keep, load, storedVisitor } from "./store.js";

const cfg = JSON.parse(document.getElementById("hotline-config").textContent);
const W = cfg.strings;
const MAX_TEXT = 4000;
const TRANSCRIPT_MAX = 200;
const IDENTITY_WAIT_MS = 300;
const TYPING_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 4000;
const EMOJI = ["😀", "😂", "😊", "😍", "🥰", "😉", "🤔", "😅", "😢", "😭", "😡", "😮",
  "👍", "👎", "👏", "🙏", "👌", "💪", "🎉", "❤️", "🔥", "✅", "❌", "❓"];
const CLOSED = ["no_agents", "after_hours"];
const embedded = window.parent !== window;

const $ = (id) => document.getElementById(id);
const el = {
  conn: $("conn"), chat: $("chat"), queue: $("queue"), messages: $("messages"),
  typing: $("typing"), ended: $("ended"), newChat: $("new-chat"), notice: $("notice"),
  composer: $("composer"), emojiPanel: $("emoji-panel"), emoji: $("emoji"), attach: $("attach"),
  attachLabel: $("attach-label"), text: $("text"), offline: $("offline"),
  offlineReason: $("offline-reason"), leave: $("leave"), leaveSend: $("leave-send"),
  left: $("left"), close: $("close"), endChat: $("end-chat"),
  callbackBox: $("callback-box"), callbackOpen: $("callback-open"), callback: $("callback"),
  callbackSend: $("callback-send"), called: $("called")
};

/**
 * A hand-off from the touch menu ("talk to an agent"): its token rides in the fragment
 * (#handoff=...), which no server sees; it is taken out of the address bar at once and sent
 * in every hello until the server has welcomed us into its conversation.
 */
function handoffFromUrl() {
  const found = /(?:^#|&)handoff=([A-Za-z0-9_.-]{1,6000})(?:&|$)/.exec(window.location.hash);
  if (!found) {
    return null;
  }
  try {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  } catch (err) {
    // a page without history (sandboxed): the token just stays in the fragment
  }
  return found[1];
}

const fmt = (t, vars) => String(t).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

const state = {
  visitor: storedVisitor(),
  identity: null,
  handoff: handoffFromUrl(),
  conv: null,
  open: true,
  reason: "",
  ended: false,
  shown: {},                      // conv -> highest seq shown
  receipts: load(KEY.receipts, {}), // conv -> {delivered, read}
  own: new Map(),                 // cid -> {li, statusEl, data, seq, status}
  rendered: new Set(),            // seqs on the page for state.conv
  lastRead: 0,
  lastTyping: 0,
  panelShown: true
};
let transcript = null;            // {conv, items: [msg...]} as kept in localStorage
const outbox = new Outbox(KEY.outbox);
const files = new Files({ url: cfg.files_url, token: () => state.visitor, lang: cfg.lang, words: W });
const sock = new Socket({
  url: socketUrl(cfg.ws_url),
  hello: () => Object.assign({
    t: "hello", role: "customer", visitor: state.visitor, identity: state.identity,
    lang: cfg.lang, resume: Object.assign({}, state.shown)
  }, state.handoff ? { handoff: state.handoff } : {}),
  onFrame: (f) => (HANDLERS[f.t] || (() => {}))(f),
  onStatus: (s) => {
    el.conn.hidden = s === "up";
    el.conn.textContent = s === "down" ? W.reconnecting : W.connecting;
    el.conn.dataset.state = s;
  }
});

// ------------------------------------------------------------------ the message list

const list = new MessageList({ list: el.messages, words: W, files, lang: cfg.lang });
const line = (text, kind) => list.line(text, kind);
const bubble = (m, localUrl) => list.bubble(m, localUrl);
const setStatus = (entry, status) => advance(entry, status, W);

function applyReceipts(entry) {
  const r = state.receipts[state.conv];
  if (!r || !entry.seq) {
    return;
  }
  if (entry.seq <= (r.read || 0)) {
    setStatus(entry, "read");
  } else if (entry.seq <= (r.delivered || 0)) {
    setStatus(entry, "delivered");
  }
}

function remember(m) {
  if (!state.conv) {
    return;
  }
  if (!transcript || transcript.conv !== state.conv) {
    transcript = { conv: state.conv, items: [] };
  }
  transcript.items.push(m);
  transcript.items = transcript.items.slice(-TRANSCRIPT_MAX);
  keep(KEY.transcript, transcript);
}

function pick(f) {
  return { seq: f.seq, from: f.from, name: f.name || "", cid: f.cid || "", text: f.text || "",
    file: f.file || null, at: f.at || "" };
}

/** A stored message on the page: own ones (cid) are tracked for their status. */
function show(m) {
  state.rendered.add(m.seq);
  const v = bubble(m);
  if (m.from === "system" && m.name) { // the bot (chat.bot_first) answers under its name
    v.li.classList.add("bot");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.name;
    v.li.insertBefore(who, v.li.firstChild);
  }
  if (quick && m.seq > quick.seq) {
    dropQuick(); // the conversation went on: the quick replies are stale
  } else if (quick && m.seq === quick.seq && !quick.li) {
    showQuick(quick);
  }
  if (m.from === "customer") {
    const entry = { ...v, data: m, seq: m.seq, status: null };
    state.own.set(m.cid || "seq:" + m.seq, entry);
    setStatus(entry, "sent");
    applyReceipts(entry);
  }
}

function showPending(entry, localUrl) {
  const data = { from: "customer", text: entry.text || "", file: entry.file || null, at: entry.at };
  const v = bubble(data, localUrl);
  const own = { ...v, data, seq: null, status: null };
  state.own.set(entry.cid, own);
  setStatus(own, "sending");
  return own;
}

function saveShown() {
  keep(KEY.resume, state.shown);
}

// ------------------------------------------------------------------ the bot's quick replies

let quick = null; // {seq, replies, li}: the buttons under the bot's "did that help?"

function dropQuick() {
  if (quick && quick.li) {
    quick.li.remove();
  }
  quick = null;
}

/** Buttons under message ``q.seq``; a tap sends the reply's text as the customer's message. */
function showQuick(q) {
  dropQuick();
  if (!q || state.ended || !Array.isArray(q.replies)) {
    return;
  }
  quick = { seq: q.seq, replies: q.replies, li: null };
  if (!state.rendered.has(q.seq)) {
    return; // its message is still on its way: shown with it
  }
  const li = document.createElement("li");
  li.className = "quick";
  for (const r of q.replies.slice(0, 4)) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "quick-reply";
    b.dataset.key = String(r.key || "");
    b.textContent = String(r.text || "");
    b.addEventListener("click", () => {
      dropQuick();
      el.text.value = String(r.text || "");
      submitText();
    });
    li.appendChild(b);
  }
  quick.li = li;
  list.append(li);
}

function onQuick(f) {
  if (f.conv !== state.conv || typeof f.seq !== "number") {
    return;
  }
  const item = transcript && transcript.conv === f.conv
    ? transcript.items.find((m) => m.seq === f.seq) : null;
  if (item) { // a reload shows the buttons again while this is the last message
    item.quick = f.replies;
    keep(KEY.transcript, transcript);
  }
  showQuick(f);
}

// ------------------------------------------------------------------ conversation state

function setConv(conv) {
  state.conv = conv;
  el.endChat.hidden = state.ended;
  el.attach.disabled = false;
  el.attachLabel.classList.remove("disabled");
  el.attachLabel.title = W.attach;
}

function clearList() {
  list.clear();
  state.own.clear();
  state.rendered.clear();
}

function forget(conv) {
  delete state.shown[conv];
  delete state.receipts[conv];
  saveShown();
  keep(KEY.receipts, state.receipts);
  transcript = null;
  keep(KEY.transcript, null);
}

function markEnded() {
  dropQuick();
  state.ended = true;
  el.ended.hidden = false;
  el.composer.hidden = true;
  el.endChat.hidden = true;
  el.typing.hidden = true;
  el.queue.hidden = true;
}

function startNewChat() {
  if (state.conv) {
    forget(state.conv);
  }
  state.conv = null;
  state.ended = false;
  state.lastRead = 0;
  clearList();
  el.ended.hidden = true;
  el.composer.hidden = false;
  el.endChat.hidden = true;
  el.attach.disabled = true;
  el.attachLabel.classList.add("disabled");
  el.attachLabel.title = W.attach_later;
  if (state.open) {
    showChat();
    el.text.focus();
  } else {
    showOffline(state.reason);
  }
}

function showChat() {
  el.chat.hidden = false;
  el.offline.hidden = true;
}

function showOffline(reason) {
  el.chat.hidden = true;
  el.offline.hidden = false;
  el.callbackBox.hidden = false; // closed or nobody there: a call back keeps the place
  el.callbackOpen.hidden = true;
  el.offlineReason.textContent = W["closed_" + reason] || W.closed_other;
}

function notice(text) {
  el.notice.textContent = text;
  el.notice.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => {
    el.notice.hidden = true;
  }, 5000);
}

function visible() {
  return document.visibilityState === "visible" && state.panelShown;
}

function maybeRead() {
  const seq = state.conv ? state.shown[state.conv] || 0 : 0;
  if (visible() && seq > state.lastRead && sock.send({ t: "read", conv: state.conv, seq })) {
    state.lastRead = seq;
  }
}

// ------------------------------------------------------------------ sending

function sendFrame(e) {
  if (e.kind === "callback") {
    return { t: "callback", cid: e.cid, phone: e.phone };
  }
  if (e.kind === "leave") {
    return { t: "leave_message", cid: e.cid, text: e.text, name: e.name, phone: e.phone };
  }
  const f = { t: "send", conv: e.conv || state.conv || null, cid: e.cid };
  if (e.file) {
    f.file = e.file.id;
  } else {
    f.text = e.text;
  }
  return f;
}

function flush() {
  for (const e of outbox.all()) {
    sock.send(sendFrame(e));
  }
}

function submitText() {
  const text = el.text.value;
  if (!text.trim()) {
    return;
  }
  if (Array.from(text).length > MAX_TEXT) {
    notice(fmt(W.text_too_long, { max: MAX_TEXT }));
    return;
  }
  const entry = { kind: "send", cid: newCid(), conv: state.conv, text, at: new Date().toISOString() };
  el.text.value = "";
  resizeText();
  dropQuick();
  showPending(entry);
  outbox.add(entry);
  sock.send(sendFrame(entry));
}

async function sendFile(file) {
  const why = refusal(file, cfg.max_file_bytes, cfg.accept);
  if (why) {
    notice(fmt(W[why], { max: humanSize(cfg.max_file_bytes, cfg.lang) }));
    return;
  }
  if (!state.conv || !state.visitor) {
    notice(W.attach_later);
    return;
  }
  const local = /^image\//.test(file.type) ? URL.createObjectURL(file) : null;
  const entry = { kind: "send", cid: newCid(), conv: state.conv, at: new Date().toISOString(),
    file: { id: "", name: file.name, type: file.type, size: file.size } };
  const own = showPending(entry, local);
  own.statusEl.textContent = W.uploading;
  try {
    entry.file = await files.upload(file, state.conv);
  } catch (err) {
    setStatus(own, "failed");
    notice(W.upload_failed);
    return;
  }
  own.data.file = entry.file;
  own.statusEl.textContent = W.status_sending;
  outbox.add(entry);
  sock.send(sendFrame(entry));
}

// ------------------------------------------------------------------ frames in

function onWelcome(f) {
  if (typeof f.visitor === "string" && f.visitor) {
    state.visitor = f.visitor;
    keep(KEY.visitor, f.visitor);
  }
  state.open = f.open !== false;
  state.reason = f.reason || "";
  sock.ready();
  if (f.conv) {
    state.handoff = null; // welcomed into a conversation: the token has done its work
    if (state.conv && state.conv !== f.conv) {
      forget(state.conv);
      clearList();
      state.conv = null;
    }
    if (state.conv !== f.conv) {
      state.ended = false;
      setConv(f.conv);
    }
  } else if (state.conv && !state.ended) {
    markEnded(); // our conversation ended while this page was away
  }
  if (state.conv || state.ended || state.open) {
    showChat();
  } else {
    showOffline(f.reason);
  }
  state.lastRead = 0;
  flush();
  maybeRead();
}

function onAck(f) {
  const own = state.own.get(f.cid);
  outbox.remove(f.cid);
  if (!state.conv && f.conv) {
    setConv(f.conv);
  }
  if (!own || own.seq || f.conv !== state.conv) {
    return;
  }
  own.seq = f.seq;
  own.li.dataset.seq = String(f.seq);
  state.rendered.add(f.seq);
  setStatus(own, "sent");
  applyReceipts(own);
  remember({ seq: f.seq, from: "customer", name: "", cid: f.cid, text: own.data.text,
    file: own.data.file, at: own.data.at });
}

function onMsg(f) {
  if (!state.conv && f.conv && !state.ended) {
    setConv(f.conv);
  }
  if (f.conv !== state.conv || typeof f.seq !== "number" || f.seq <= (state.shown[f.conv] || 0)) {
    return; // another conversation, or shown already (a replay)
  }
  state.shown[f.conv] = f.seq;
  saveShown();
  const own = f.from === "customer" && f.cid ? state.own.get(f.cid) : null;
  if (own) {
    outbox.remove(f.cid);
    if (!own.seq) {
      onAck({ conv: f.conv, cid: f.cid, seq: f.seq });
    }
  } else if (!state.rendered.has(f.seq)) {
    const m = pick(f);
    show(m);
    remember(m);
  }
  if (f.from !== "customer") {
    sock.send({ t: "seen", conv: f.conv, seq: f.seq });
    if (f.from === "agent") {
      el.typing.hidden = true;
    }
    maybeRead();
  }
}

function onReceipt(f) {
  if (f.conv !== state.conv || typeof f.seq !== "number") {
    return;
  }
  const r = state.receipts[f.conv] || { delivered: 0, read: 0 };
  r.delivered = Math.max(r.delivered, f.seq);
  if (f.kind === "read") {
    r.read = Math.max(r.read, f.seq);
  }
  state.receipts[f.conv] = r;
  keep(KEY.receipts, state.receipts);
  state.own.forEach(applyReceipts);
}

function onTyping(f) {
  if (f.conv !== state.conv || f.from !== "agent") {
    return;
  }
  el.typing.hidden = false;
  clearTimeout(onTyping.timer);
  onTyping.timer = setTimeout(() => {
    el.typing.hidden = true;
  }, TYPING_SHOWN_MS);
}

function onQueue(f) {
  if (state.conv && f.conv !== state.conv) {
    return;
  }
  el.queue.textContent = typeof f.wait_s === "number"
    ? fmt(W.queue, { n: f.position, m: Math.max(1, Math.ceil(f.wait_s / 60)) })
    : fmt(W.queue_no_wait, { n: f.position });
  el.queue.hidden = false;
}

function onJoined(f) {
  if (state.conv && f.conv !== state.conv) {
    return;
  }
  el.queue.hidden = true;
  dropQuick();
  line(fmt(W.joined, { name: f.name || W.agent }), "joined");
}

function onEnded(f) {
  if (f.conv !== state.conv || state.ended) {
    return;
  }
  line(W.ended, "ended-line");
  markEnded();
}

function onLeft(f) {
  outbox.remove(f.cid);
  el.leave.hidden = true;
  el.left.textContent = fmt(W.left_thanks, { ref: f.ref || "" });
  el.left.hidden = false;
}

/** The callback is stored and waits in line: only now does the page say so. */
function onCallbackOk(f) {
  outbox.remove(f.cid);
  el.callback.hidden = true;
  el.called.textContent = fmt(W.callback_thanks, { ref: f.ref || "" });
  el.called.hidden = false;
}

function onError(f) {
  const entry = f.ref ? outbox.all().find((e) => e.cid === f.ref) : null;
  if (entry && entry.kind === "callback") {
    outbox.remove(entry.cid);
    el.callbackSend.disabled = false;
    el.callbackSend.textContent = W.callback_send;
    const phone = el.callback.elements.namedItem("phone");
    phone.setCustomValidity(f.code === "bad_number" ? W.phone_invalid : W.callback_failed);
    el.callback.reportValidity();
    return;
  }
  if (f.code === "rate_limited") {
    setTimeout(flush, 2000); // the frame was dropped, not refused: send it again
    return;
  }
  if (CLOSED.includes(f.code)) {
    for (const e of outbox.all()) {
      if (e.kind === "send" && !e.conv) {
        outbox.remove(e.cid);
        const own = state.own.get(e.cid);
        if (own) {
          setStatus(own, "failed");
        }
      }
    }
    state.open = false;
    state.reason = f.code;
    if (!state.conv) {
      showOffline(f.code);
    }
    return;
  }
  if (entry) {
    outbox.remove(entry.cid);
    const own = state.own.get(entry.cid);
    if (own) {
      setStatus(own, "failed");
    }
    if (entry.kind === "leave") {
      el.leaveSend.disabled = false;
      el.leaveSend.textContent = W.leave_send;
    }
  }
  if (f.code === "conversation_ended" && !state.ended) {
    markEnded();
  }
  if (entry || f.code === "conversation_ended") {
    notice(W.error_generic);
  }
}

const HANDLERS = {
  welcome: onWelcome, ack: onAck, msg: onMsg, receipt: onReceipt, typing: onTyping,
  queue: onQueue, joined: onJoined, ended: onEnded, left: onLeft, error: onError,
  callback_ok: onCallbackOk, quick: onQuick
};

// ------------------------------------------------------------------ the controls

function resizeText() {
  el.text.style.height = "auto";
  el.text.style.height = Math.min(el.text.scrollHeight, 120) + "px";
}

function wire() {
  el.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitText();
  });
  el.text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      submitText();
    }
  });
  el.text.addEventListener("input", () => {
    resizeText();
    const now = Date.now();
    if (state.conv && !state.ended && el.text.value && now - state.lastTyping >= TYPING_EVERY_MS
        && sock.send({ t: "typing", conv: state.conv })) {
      state.lastTyping = now;
    }
  });
  el.emoji.addEventListener("click", () => {
    el.emojiPanel.hidden = !el.emojiPanel.hidden;
    el.emoji.setAttribute("aria-expanded", String(!el.emojiPanel.hidden));
  });
  el.attach.addEventListener("change", () => {
    const file = el.attach.files && el.attach.files[0];
    el.attach.value = "";
    if (file) {
      sendFile(file);
    }
  });
  el.newChat.addEventListener("click", startNewChat);
  el.endChat.addEventListener("click", () => {
    if (state.conv) {
      sock.send({ t: "end", conv: state.conv });
    }
  });
  el.leave.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const phoneInput = el.leave.elements.namedItem("phone");
    const phone = phoneInput.value.trim();
    phoneInput.setCustomValidity(/^[0-9+\- ]{5,20}$/.test(phone) ? "" : W.phone_invalid);
    if (!el.leave.reportValidity()) {
      return;
    }
    const data = new FormData(el.leave);
    const entry = { kind: "leave", cid: newCid(), text: String(data.get("text") || ""),
      name: String(data.get("name") || "").trim(), phone };
    outbox.add(entry);
    el.leaveSend.disabled = true;
    el.leaveSend.textContent = W.leave_sending;
    sock.send(sendFrame(entry));
  });
  el.leave.elements.namedItem("phone").addEventListener("input", (ev) => ev.target.setCustomValidity(""));
  el.callbackOpen.addEventListener("click", () => {
    el.callbackBox.hidden = !el.callbackBox.hidden;
    el.callbackOpen.setAttribute("aria-expanded", String(!el.callbackBox.hidden));
  });
  el.callback.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const phoneInput = el.callback.elements.namedItem("phone");
    const phone = phoneInput.value.trim();
    phoneInput.setCustomValidity(/^[0-9+\- ]{5,20}$/.test(phone) ? "" : W.phone_invalid);
    if (!el.callback.reportValidity()) {
      return;
    }
    const entry = { kind: "callback", cid: newCid(), phone };
    outbox.add(entry);
    el.callbackSend.disabled = true;
    el.callbackSend.textContent = W.callback_sending;
    sock.send(sendFrame(entry));
  });
  el.callback.elements.namedItem("phone").addEventListener("input", (ev) => ev.target.setCustomValidity(""));
  document.addEventListener("visibilitychange", maybeRead);
  if (embedded) {
    el.close.hidden = false;
    el.close.addEventListener("click", () => window.parent.postMessage({ type: "hotline.close" }, "*"));
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        window.parent.postMessage({ type: "hotline.close" }, "*");
      }
    });
  }
}

/** The transcript kept from an earlier visit of this page, and the sends still pending. */
function restore() {
  const saved = load(KEY.transcript, null);
  const resume = load(KEY.resume, {});
  if (saved && typeof saved.conv === "string" && Array.isArray(saved.items)) {
    transcript = saved;
    setConv(saved.conv);
    state.shown[saved.conv] = Number(resume[saved.conv]) || 0;
    for (const m of saved.items) {
      if (m && typeof m.seq === "number" && !state.rendered.has(m.seq)) {
        show(m);
      }
    }
    const last = saved.items[saved.items.length - 1];
    if (last && Array.isArray(last.quick)) {
      showQuick({ seq: last.seq, replies: last.quick });
    }
  } else {
    el.attach.disabled = true;
    el.attachLabel.classList.add("disabled");
    el.attachLabel.title = W.attach_later;
  }
  saveShown();
  for (const e of outbox.all()) {
    if (e.kind === "send" && (!e.conv || e.conv === state.conv)) {
      showPending(e);
    } else if (e.kind === "send") {
      outbox.remove(e.cid); // a send to a conversation this page no longer shows
    }
  }
}

/** Wait (at most 300 ms) for the merchant identity the widget posts from the parent page. */
function identityFromParent() {
  if (!embedded) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, IDENTITY_WAIT_MS);
    window.addEventListener("message", (ev) => {
      const d = ev.data;
      if (ev.source !== window.parent || !d || typeof d !== "object") {
        return;
      }
      if (d.type === "hotline.identity") {
        if (typeof d.identity === "string" && d.identity.length <= 2000) {
          state.identity = d.identity;
        }
        clearTimeout(timer);
        resolve();
      } else if (d.type === "hotline.visible") {
        state.panelShown = Boolean(d.visible);
        maybeRead();
      }
    });
    window.parent.postMessage({ type: "hotline.ready" }, "*");
  });
}

buildEmoji(el.emojiPanel, el.text, EMOJI);
wire();
restore();
identityFromParent().then(() => sock.start());
