/*
 * The centre column: the selected contact's transcript, composer, end / transfer buttons
 * and its wrap-up form. Text only (Preact text nodes); attachments are links and <img>s to
 * /chat/files/<id>, which the desk session cookie authorises.
 */
import { html, useEffect, useRef, useState } from "./vendor/htm-preact-standalone.mjs";
import { elapsed, fmt, ordered, statusOf } from "./model.js";
import { Suggestions } from "./suggest.js";

const MAX_TEXT = 4000;
const INLINE_IMAGES = /^image\/(png|jpeg|gif|webp)$/;

function clock(at, lang) {
  const d = at ? new Date(at) : null;
  return !d || Number.isNaN(d.getTime()) ? ""
    : d.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en", { hour: "2-digit", minute: "2-digit" });
}

function Attachment({ file, cfg }) {
  const url = cfg.files_url + "/" + encodeURIComponent(file.id);
  if (INLINE_IMAGES.test(String(file.type))) {
    return html`<a class="file" href=${url} target="_blank" rel="noopener noreferrer">
      <img class="inline-image" src=${url} alt=${file.name} loading="lazy" /></a>`;
  }
  return html`<a class="file download" href=${url} download=${file.name || "file"}>${file.name || "file"}</a>`;
}

function Item({ item, card, receipts, cfg }) {
  const W = cfg.strings;
  const kind = item.from === "customer" ? "customer" : item.from === "system" ? "system" : "own";
  const who = kind === "customer" ? card.customer
    : kind === "system" ? item.name || W.system // the bot's messages carry its name
      : item.name && item.name !== cfg.agent_name ? item.name : W.you;
  const status = kind === "own" ? statusOf(item, receipts) : null;
  return html`<li class=${"msg " + kind + (kind === "system" && item.name ? " bot" : "")} data-seq=${item.seq || ""} data-status=${status || ""}>
    <span class="who">${who}</span>
    ${item.text ? html`<p class="text">${item.text}</p>` : null}
    ${item.file ? html`<${Attachment} file=${item.file} cfg=${cfg} />` : null}
    <span class="meta"><time>${clock(item.at, cfg.lang)}</time>
      ${status ? html`<span class="status">${W["status_" + status]}</span>` : null}</span>
  </li>`;
}

function Transcript({ conv, card, receipts, cfg }) {
  const list = useRef(null);
  const items = conv ? ordered(conv.items) : [];
  useEffect(() => {
    if (list.current) {
      list.current.scrollTop = list.current.scrollHeight;
    }
  }, [items.length, card.contact]);
  return html`<ol class="transcript" ref=${list} aria-live="polite">
    ${items.map((it) => html`<${Item} key=${it.cid || "s" + it.seq} item=${it} card=${card} receipts=${receipts} cfg=${cfg} />`)}
  </ol>`;
}

function Composer({ convId, act, W, draft, draftUsed }) {
  const [text, setText] = useState("");
  const box = useRef(null);
  useEffect(() => { // a suggested answer to edit first
    if (draft && draft.conv === convId) {
      setText(draft.text);
      draftUsed();
      if (box.current) {
        box.current.focus();
      }
    }
  }, [draft]);
  const submit = (ev) => {
    ev.preventDefault();
    if (text.trim() && Array.from(text).length <= MAX_TEXT) {
      act.send(convId, text);
      setText("");
    }
  };
  const key = (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      submit(ev);
    }
  };
  return html`<form class="composer" onSubmit=${submit}>
    <textarea class="reply" ref=${box} rows="3" maxlength=${MAX_TEXT} placeholder=${W.placeholder} aria-label=${W.placeholder}
      value=${text} onInput=${(ev) => { setText(ev.currentTarget.value); act.typing(convId); }}
      onKeyDown=${key}></textarea>
    <button type="submit" class="primary send">${W.send}</button>
  </form>`;
}

function WrapUp({ card, state, act, W }) {
  const [code, setCode] = useState("");
  const [notes, setNotes] = useState("");
  if (state.notes[card.contact] === "wrapup") {
    return html`<p class="note wrapup-sent" role="status">${W.wrapup_sent}</p>`;
  }
  const codes = state.codes;
  const submit = (ev) => {
    ev.preventDefault();
    if (code) {
      act.wrapup(card.contact, code, notes);
    }
  };
  return html`<form class="wrapup" onSubmit=${submit}>
    <h3>${W.wrapup_title}</h3>
    <label class="field">${W.wrapup_code}
      <select name="code" required value=${code} onChange=${(ev) => setCode(ev.currentTarget.value)}>
        <option value="">${codes === null ? W.loading : W.choose}</option>
        ${(codes || []).map(([c, label]) => html`<option value=${c}>${label}</option>`)}
      </select>
    </label>
    <label class="field">${W.wrapup_notes}
      <textarea name="notes" rows="3" maxlength="2000" value=${notes}
        onInput=${(ev) => setNotes(ev.currentTarget.value)}></textarea>
    </label>
    <button type="submit" class="primary" disabled=${!code}>${W.wrapup_send}</button>
  </form>`;
}

function Transfer({ card, state, act, W }) {
  const [open, setOpen] = useState(false);
  const [queue, setQueue] = useState("");
  if (state.notes[card.contact] === "transfer") {
    return html`<p class="note transfer-sent" role="status">${W.transfer_sent}</p>`;
  }
  if (!open) {
    return html`<button type="button" class="transfer-open" onClick=${() => setOpen(true)}>${W.transfer}</button>`;
  }
  const queues = state.queues;
  const submit = (ev) => {
    ev.preventDefault();
    if (queue) {
      act.transfer(card.contact, queue);
    }
  };
  return html`<form class="transfer" onSubmit=${submit}>
    <label class="field">${W.transfer_queue}
      <select name="queue" required value=${queue} onChange=${(ev) => setQueue(ev.currentTarget.value)}>
        <option value="">${queues === null ? W.loading : W.choose}</option>
        ${(queues || []).map(([q, label]) => html`<option value=${q}>${label}</option>`)}
      </select>
    </label>
    <button type="submit" class="primary" disabled=${!queue}>${W.transfer_send}</button>
  </form>`;
}

export function Centre({ state, card, cfg, act }) {
  const W = cfg.strings;
  const [draft, setDraft] = useState(null);
  if (!card) {
    return html`<p class="empty pick">${W.pick_chat}</p>`;
  }
  const conv = card.conv !== null ? state.convs[card.conv] : null;
  const typing = conv && conv.typingUntil > state.now;
  const connected = card.state === "connected";
  return html`<section class="contact" data-contact=${card.contact}>
    <header class="contact-head">
      <div>
        <h2 class="customer">${card.customer}</h2>
        <span class="queue">${card.queue}</span>${" · "}<span class="since">${elapsed(card.since, state.now)}</span>${" · "}<span class="badge" data-state=${card.state}>${W["card_" + card.state] || card.state}</span>
      </div>
      <div class="actions">
        ${connected && card.medium !== "callback" ? html`<${Transfer} key=${"t" + card.contact} card=${card} state=${state} act=${act} W=${W} />` : null}
        ${connected && card.conv !== null ? html`<button type="button" class="end-chat"
          onClick=${() => act.end(card.conv)}>${W.end_chat}</button>` : null}
      </div>
    </header>
    ${card.medium === "voice" || card.medium === "callback" ? html`<p class="empty">${card.medium === "voice" ? W.voice_selected : W.callback_selected}</p>`
      : html`<${Transcript} conv=${conv} card=${card} receipts=${state.receipts[card.conv]} cfg=${cfg} />`}
    ${typing ? html`<p class="typing" aria-live="polite">${W.customer_typing}</p>` : null}
    ${connected && card.conv !== null ? html`<${Suggestions} key=${"s" + card.conv} card=${card} conv=${conv} cfg=${cfg} act=${act}
      onEdit=${(text) => setDraft({ text, conv: card.conv })} />` : null}
    ${connected && card.conv !== null ? html`<${Composer} key=${card.conv} convId=${card.conv} act=${act} W=${W} draft=${draft}
      draftUsed=${() => setDraft(null)} />` : null}
    ${card.state !== "connected" && card.medium === "chat" ? html`<p class="note">${W.chat_ended}</p>` : null}
    ${card.state === "wrap_up" ? html`<${WrapUp} key=${"w" + card.contact} card=${card} state=${state} act=${act} W=${W} />` : null}
  </section>`;
}
