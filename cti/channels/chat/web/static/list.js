/*
 * The chat panel's message list and emoji picker as DOM: every text is set with
 * textContent (what customers and agents type is untrusted), never parsed as HTML.
 */

const ORDER = { sending: 0, sent: 1, delivered: 2, read: 3 };

export function clock(at, lang) {
  const d = at ? new Date(at) : new Date();
  return Number.isNaN(d.getTime()) ? ""
    : d.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en", { hour: "2-digit", minute: "2-digit" });
}

export class MessageList {
  /** @param {{list: HTMLElement, words: object, files: object, lang: string}} opts */
  constructor(opts) {
    this.list = opts.list;
    this.words = opts.words;
    this.files = opts.files;
    this.lang = opts.lang;
  }

  append(li) {
    const list = this.list;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.appendChild(li);
    if (stick) {
      list.scrollTop = list.scrollHeight;
    }
  }

  /** A one-line notice in the list ("Li joined the chat."). */
  line(text, kind) {
    const li = document.createElement("li");
    li.className = "line " + (kind || "");
    li.textContent = text;
    this.append(li);
  }

  /** A message bubble: {li, statusEl}; statusEl only for the customer's own messages. */
  bubble(m, localUrl) {
    const own = m.from === "customer";
    const li = document.createElement("li");
    li.className = "msg " + (own ? "own" : m.from === "system" ? "system" : "agent");
    if (m.seq) {
      li.dataset.seq = String(m.seq);
    }
    if (m.from === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = m.name || this.words.agent;
      li.appendChild(who);
    }
    if (m.text) {
      const p = document.createElement("p");
      p.className = "text";
      p.textContent = m.text;
      li.appendChild(p);
    }
    if (m.file) {
      li.appendChild(this.files.view(m.file, localUrl));
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const time = document.createElement("time");
    time.textContent = clock(m.at, this.lang);
    meta.appendChild(time);
    let statusEl = null;
    if (own) {
      statusEl = document.createElement("span");
      statusEl.className = "status";
      meta.appendChild(statusEl);
    }
    li.appendChild(meta);
    this.append(li);
    return { li, statusEl };
  }

  /** Everything but the greeting. */
  clear() {
    for (const li of Array.from(this.list.children)) {
      if (li.id !== "greeting") {
        li.remove();
      }
    }
  }
}

/** Move an own message forward (sending → sent → delivered → read), or mark it failed. */
export function setStatus(entry, status, words) {
  if (!entry.statusEl) {
    return;
  }
  if (status !== "failed" && entry.status && entry.status !== "failed"
      && ORDER[status] <= ORDER[entry.status]) {
    return;
  }
  entry.status = status;
  entry.li.dataset.status = status;
  entry.statusEl.textContent = words["status_" + status] || "";
}

/** Fill the picker with one button per emoji; a click inserts it at the caret. */
export function buildEmoji(panel, textarea, emoji) {
  for (const e of emoji) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "emoji";
    b.textContent = e;
    b.setAttribute("aria-label", e);
    b.addEventListener("click", () => {
      const start = textarea.selectionStart ?? textarea.value.length;
      const end = textarea.selectionEnd ?? start;
      textarea.setRangeText(e, start, end, "end");
      textarea.focus();
      textarea.dispatchEvent(new Event("input"));
    });
    panel.appendChild(b);
  }
}
