/*
 * The right column: the screen pop of the selected contact (GET /desk/api/contacts/<id>/pop)
 * — who the customer is, what they did in the IVR, and their earlier contacts. Every value is
 * rendered as text, whatever its type: the record holds what customers typed.
 */
import { html, useEffect, useState } from "./vendor/htm-preact-standalone.mjs";

const HISTORY_FIELDS = ["channel", "started_at", "outcome", "agent", "wrap_up_code",
  "wrap_up_notes", "ivr_path", "self_service"];

function when(value, lang) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value)
    : d.toLocaleString(lang === "zh" ? "zh-CN" : "en", { dateStyle: "short", timeStyle: "short" });
}

/** Any JSON value as plain text. */
export function text(value, W) {
  if (value === null || value === undefined || value === "") {
    return "—";
  }
  if (typeof value === "boolean") {
    return value ? W.yes : W.no;
  }
  if (Array.isArray(value)) {
    return value.map((v) => text(v, W)).join(" › ");
  }
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => k + ": " + text(v, W)).join(", ");
  }
  return String(value);
}

function Pairs({ obj, W }) {
  const entries = obj && typeof obj === "object" && !Array.isArray(obj) ? Object.entries(obj) : [];
  if (!entries.length) {
    return html`<p class="muted">—</p>`;
  }
  return html`<dl class="pairs">
    ${entries.map(([k, v]) => html`<dt>${k}</dt><dd>${text(v, W)}</dd>`)}
  </dl>`;
}

/**
 * What self-service gave this contact: the results its pages showed (a web session from the
 * touch menu), then the (step, outcome) pairs its IVR recorded.
 */
function Results({ context, W }) {
  const seen = Array.isArray(context.seen) ? context.seen : [];
  const served = Array.isArray(context.self_service) ? context.self_service : [];
  if (!seen.length && !served.length) {
    return html`<p class="muted">—</p>`;
  }
  return html`<ul class="self-service">
    ${seen.map((t) => html`<li class="seen">${text(t, W)}</li>`)}
    ${served.map((t) => html`<li class="served">${text(t, W)}</li>`)}
  </ul>`;
}

/** Nothing to show: absent, null, "" or [] (a chat has no IVR path). */
const empty = (v) => v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length);

function History({ items, cfg }) {
  const W = cfg.strings;
  if (!Array.isArray(items) || !items.length) {
    return html`<p class="muted">${W.pop_none}</p>`;
  }
  return html`<ol class="history">
    ${items.map((h) => html`<li>
      <dl class="pairs">
        ${HISTORY_FIELDS.filter((f) => h && !empty(h[f]))
          .map((f) => html`<dt>${W["h_" + f]}</dt>
            <dd>${f === "started_at" ? when(h[f], cfg.lang) : text(h[f], W)}</dd>`)}
      </dl>
    </li>`)}
  </ol>`;
}

const TAG_MAX = 32;

/** POST (add) or DELETE (remove) one tag; resolves with the customer's tags. */
async function sendTag(cfg, contact, method, tag) {
  const api = String(cfg.api_url || "/desk/api").replace(/\/$/, "");
  const resp = await fetch(api + "/contacts/" + encodeURIComponent(contact) + "/tags", {
    method, credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json",
      "X-CSRFToken": cfg.csrf_token || "" },
    body: JSON.stringify({ tag }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    throw new Error(body.error || String(resp.status));
  }
  return Array.isArray(body.tags) ? body.tags : [];
}

/** The customer's tags, each with a remove button, and an input to add one. */
function Tags({ initial, contact, cfg }) {
  const W = cfg.strings;
  const [list, setList] = useState(Array.isArray(initial) ? initial : []);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setList(Array.isArray(initial) ? initial : []);
    setError("");
  }, [initial, contact]);
  const run = (method, tag) => {
    setBusy(true);
    setError("");
    sendTag(cfg, contact, method, tag)
      .then((tags) => {
        setList(tags);
        if (method === "POST") {
          setDraft("");
        }
      })
      .catch((err) => setError(W["tags_error_" + err.message] || W.tags_error))
      .finally(() => setBusy(false));
  };
  const submit = (ev) => {
    ev.preventDefault();
    const tag = draft.trim();
    if (tag && !busy) {
      run("POST", tag);
    }
  };
  return html`<div class="tags">
    ${list.length ? html`<ul class="tag-list">
      ${list.map((t) => html`<li class="tag" data-tag=${String(t.tag)}
          title=${String(t.source || "").startsWith("rule:") ? W.tags_by_rule : String(t.source || "")}>
        <span class="tag-text">${String(t.tag)}</span>
        <button type="button" class="tag-remove" disabled=${busy}
          aria-label=${W.tags_remove.replace("{tag}", String(t.tag))}
          onClick=${() => run("DELETE", String(t.tag))}>×</button>
      </li>`)}
    </ul>` : html`<p class="muted tags-none">${W.tags_none}</p>`}
    <form class="tag-add" onSubmit=${submit}>
      <input type="text" class="tag-input" maxlength=${TAG_MAX} value=${draft}
        placeholder=${W.tags_placeholder} aria-label=${W.tags_placeholder}
        onInput=${(ev) => setDraft(ev.currentTarget.value)} />
      <button type="submit" disabled=${busy || !draft.trim()}>${W.tags_add}</button>
    </form>
    ${error ? html`<p class="tag-error" role="alert">${error}</p>` : null}
  </div>`;
}

export function Pop({ pop, card, cfg }) {
  const W = cfg.strings;
  if (!card) {
    return html`<p class="muted">${W.pop_pick}</p>`;
  }
  if (!pop || pop.status === "loading") {
    return html`<p class="muted">${W.loading}</p>`;
  }
  if (pop.status === "failed" || !pop.data) {
    return html`<p class="muted pop-failed">${W.pop_failed}</p>`;
  }
  const data = pop.data;
  const customer = data.customer || {};
  const context = data.context || {};
  return html`<section class="pop" data-contact=${card.contact}>
    <h2>${W.pop_title}</h2>
    <p class="pop-name">${text(customer.name || card.customer, W)}</p>
    <h3>${W.tags_title}</h3>
    <${Tags} initial=${data.tags} contact=${card.contact} cfg=${cfg} />
    <h3>${W.pop_identities}</h3>
    <${Pairs} obj=${customer.identities} W=${W} />
    <h3>${W.pop_context}</h3>
    <dl class="pairs">
      <dt>${W.pop_ivr_path}</dt><dd class="ivr-path">${text(context.ivr_path, W)}</dd>
    </dl>
    <h4>${W.pop_entered}</h4>
    <${Pairs} obj=${context.entered} W=${W} />
    <h4>${W.h_self_service}</h4>
    <${Results} context=${context} W=${W} />
    <h4>${W.pop_attributes}</h4>
    <${Pairs} obj=${context.attributes} W=${W} />
    <h3>${W.pop_history}</h3>
    <${History} items=${data.history} cfg=${cfg} />
  </section>`;
}
