/*
 * Recommended answers under the transcript of the selected chat: the knowledge base ranked
 * for the customer's last messages (GET /desk/api/contacts/<id>/suggestions). Asked again
 * when a new customer message arrives (debounced); one click sends an answer as the agent's
 * message, the other puts it in the composer to edit first. Everything is rendered as text.
 */
import { html, useEffect, useState } from "./vendor/htm-preact-standalone.mjs";

const DEBOUNCE_MS = 350;
let styled = false;

/** The stylesheet beside this module, once (the page's CSP allows 'self' styles). */
function ensureStyle() {
  if (!styled && typeof document !== "undefined") {
    styled = true;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("./suggest.css", import.meta.url).href;
    document.head.appendChild(link);
  }
}

/** The seq of the customer's newest message in a transcript (0: none yet). */
export function lastCustomerSeq(conv) {
  let high = 0;
  for (const it of (conv && conv.items) || []) {
    if (it.from === "customer" && typeof it.seq === "number" && it.seq > high) {
      high = it.seq;
    }
  }
  return high;
}

function clean(list) {
  return (Array.isArray(list) ? list : []).filter((s) => s && typeof s.answer === "string")
    .slice(0, 3).map((s) => ({ id: String(s.id), question: String(s.question || ""),
      answer: s.answer, confidence: Number(s.confidence) || 0 }));
}

export function Suggestions({ card, conv, cfg, act, onEdit }) {
  const W = cfg.strings;
  const seq = lastCustomerSeq(conv);
  const [shown, setShown] = useState({ status: "idle", items: [], for: "" });
  const [sent, setSent] = useState({});
  const asked = card.contact + ":" + seq;
  useEffect(ensureStyle, []);
  useEffect(() => {
    if (!seq) {
      return undefined;
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      const url = cfg.api_url.replace(/\/$/, "") + "/contacts/" + encodeURIComponent(card.contact)
        + "/suggestions";
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin",
        signal: ctl.signal })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
        .then((j) => setShown({ status: "ok", items: clean(j.suggestions), for: asked }))
        .catch((err) => {
          if (!ctl.signal.aborted) {
            setShown({ status: "failed", items: [], for: asked });
          }
        });
    }, DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [asked]);
  if (!seq || shown.status === "idle") {
    return null;
  }
  const send = (s) => {
    act.send(card.conv, s.answer);
    setSent({ ...sent, [asked + ":" + s.id]: true });
  };
  return html`<section class="suggestions" aria-label=${W.suggest_title} data-for=${shown.for}>
    <h3>${W.suggest_title}</h3>
    ${shown.status === "failed" ? html`<p class="muted">${W.suggest_failed}</p>`
      : !shown.items.length ? html`<p class="muted suggest-none">${W.suggest_none}</p>`
        : html`<ol class="suggest-list">
      ${shown.items.map((s) => {
        const done = sent[shown.for + ":" + s.id];
        return html`<li class="suggestion" key=${s.id} data-id=${s.id}>
          <p class="s-question">${s.question}</p>
          <p class="s-answer" title=${s.answer}>${s.answer}</p>
          <div class="s-actions">
            <span class="s-confidence">${W.suggest_confidence.replace("{n}", String(Math.round(s.confidence * 100)))}</span>
            <button type="button" class="suggest-edit" onClick=${() => onEdit(s.answer)}>${W.suggest_edit}</button>
            <button type="button" class="primary suggest-send" disabled=${done}
              onClick=${() => send(s)}>${done ? W.suggest_sent : W.suggest_send}</button>
          </div>
        </li>`;
      })}
    </ol>`}
  </section>`;
}
