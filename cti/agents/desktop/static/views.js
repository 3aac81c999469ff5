/*
 * The desktop's frame: top bar (agent, state, budget, log out), left column (offers, the
 * current call, one tab per chat), and the centre and right columns from centre.js / pop.js.
 * All text goes through Preact as text: nothing here is ever parsed as HTML.
 */
import { html, useEffect, useState } from "./vendor/htm-preact-standalone.mjs";
import { elapsed, fmt, secondsLeft, selectedCard, unread } from "./model.js";
import { Centre } from "./centre.js";
import { Pop } from "./pop.js";

const STATES = ["ready", "not_ready"];

function TopBar({ state, cfg, act }) {
  const W = cfg.strings;
  const a = state.agent;
  const current = a ? a.state : "";
  const reasons = cfg.not_ready_reasons;
  const [wanted, setWanted] = useState(null); // chosen, until the server's next agent frame
  useEffect(() => setWanted(null), [a]);
  const shown = wanted && wanted !== current ? wanted : current;
  const label = current ? W["state_" + current] || current : W.state_unknown;
  const pickState = (ev) => {
    const next = ev.currentTarget.value;
    setWanted(next);
    act.setState(next, next === "not_ready" ? (a && a.reason) || (reasons[0] ? reasons[0][0] : "") : "");
  };
  const pickReason = (ev) => act.setState("not_ready", ev.currentTarget.value);
  return html`<header class="top">
    <div class="me">
      <strong class="agent-name">${cfg.agent_name}</strong>
      <span class="badge state" data-state=${current}>${label}</span>
    </div>
    <label class="field">${W.state_label}
      <select class="state-select" value=${STATES.includes(shown) ? shown : ""} onChange=${pickState}>
        ${STATES.includes(shown) ? null : html`<option value="" disabled>${label}</option>`}
        ${STATES.map((s) => html`<option value=${s}>${W["state_" + s]}</option>`)}
      </select>
    </label>
    ${shown === "not_ready" ? html`<label class="field">${W.reason_label}
      <select class="reason-select" value=${(a && a.reason) || (reasons[0] ? reasons[0][0] : "")} onChange=${pickReason}>
        ${reasons.map(([code, text]) => html`<option value=${code}>${text}</option>`)}
      </select></label>` : null}
    <span class="budget" data-testid="budget">${a ? fmt(W.chats_budget, { n: a.chats, max: a.max_chats }) : ""}</span>
    <span class=${"call " + (a && a.voice ? "on" : "off")}>${a && a.voice ? W.call_active : W.call_none}</span>
    <form class="logout" method="post" action=${cfg.logout_url} onSubmit=${() => act.logout()}>
      <input type="hidden" name="csrf_token" value=${cfg.csrf_token} />
      <button type="submit">${W.logout}</button>
    </form>
  </header>`;
}

function Offer({ offer, now, act, W }) {
  const left = secondsLeft(offer, now);
  return html`<section class="offer" data-contact=${offer.contact} aria-live="assertive">
    <h2>${offer.medium === "voice" ? W.offer_voice : offer.medium === "callback" ? W.offer_callback : W.offer_chat}</h2>
    <dl>
      <dt>${W.customer}</dt><dd class="customer">${offer.customer}</dd>
      <dt>${W.queue}</dt><dd>${offer.queue}</dd>
    </dl>
    <p class="countdown" data-left=${left}>${fmt(W.expires, { s: left })}</p>
    <progress max=${offer.total || 1} value=${left}></progress>
    <div class="actions">
      <button type="button" class="primary accept" disabled=${offer.answered || left === 0}
        onClick=${() => act.accept(offer.contact)}>${W.accept}</button>
      <button type="button" class="reject" disabled=${offer.answered}
        onClick=${() => act.reject(offer.contact)}>${W.reject}</button>
    </div>
  </section>`;
}

function CardTab({ card, state, act, W }) {
  const n = unread(state, card.conv);
  const selected = state.selected === card.contact;
  return html`<button type="button" role="tab" aria-selected=${selected ? "true" : "false"}
      class=${"tab " + card.state + (selected ? " selected" : "")} data-contact=${card.contact}
      onClick=${() => act.select(card.contact)}>
    <span class="line1">
      <span class="customer">${card.customer}</span>
      ${n > 0 ? html`<span class="unread" aria-label=${fmt(W.unread, { n })}>${n}</span>` : null}
    </span>
    <span class="line2">
      <span class="queue">${card.queue}</span>
      <span class="since">${elapsed(card.since, state.now)}</span>
      <span class="badge" data-state=${card.state}>${W["card_" + card.state] || card.state}</span>
    </span>
  </button>`;
}

function LeftColumn({ state, cfg, act }) {
  const W = cfg.strings;
  const onPhone = (c) => c.medium === "voice" || c.medium === "callback";
  const calls = state.cards.filter(onPhone);
  const chats = state.cards.filter((c) => !onPhone(c));
  return html`<aside class="left">
    ${state.offers.map((o) => html`<${Offer} key=${o.contact} offer=${o} now=${state.now} act=${act} W=${W} />`)}
    ${calls.length ? html`<section class="calls">
      <h2>${W.current_call}</h2>
      ${calls.map((c) => html`<${CardTab} key=${c.contact} card=${c} state=${state} act=${act} W=${W} />`)}
    </section>` : null}
    <section class="chats">
      <h2>${W.chats}</h2>
      ${chats.length ? html`<div role="tablist" class="tabs">
        ${chats.map((c) => html`<${CardTab} key=${c.contact} card=${c} state=${state} act=${act} W=${W} />`)}
      </div>` : html`<p class="empty">${W.no_chats}</p>`}
    </section>
  </aside>`;
}

function Banner({ state, W }) {
  if (state.conn === "signed_out") {
    return html`<div class="banner down" role="alert">${W.signed_out}
      <a href=${window.location.pathname}>${W.sign_in_again}</a></div>`;
  }
  if (state.conn === "down" || state.conn === "connecting") {
    return html`<div class=${"banner " + state.conn} role="status" data-testid="conn">
      ${state.conn === "down" ? W.reconnecting : W.connecting}</div>`;
  }
  return null;
}

export function App({ state, cfg, act }) {
  const W = cfg.strings;
  const card = selectedCard(state);
  return html`<div class="desk">
    <${TopBar} state=${state} cfg=${cfg} act=${act} />
    <${Banner} state=${state} W=${W} />
    ${state.error ? html`<div class="banner error" role="alert">${fmt(W.error_generic, { message: state.error.text })}</div>` : null}
    <div class="columns">
      <${LeftColumn} state=${state} cfg=${cfg} act=${act} />
      <main class="centre"><${Centre} state=${state} card=${card} cfg=${cfg} act=${act} /></main>
      <aside class="right"><${Pop} pop=${card ? state.pops[card.contact] : null} card=${card} cfg=${cfg} /></aside>
    </div>
  </div>`;
}
