/*
 * Hotline chat widget loader. A merchant page adds ONE tag:
 *   <script src="https://HOTLINE/widget.js" data-lang="zh|en" data-identity="..." async></script>
 * It draws a round chat button (bottom right) that opens/closes the chat panel, an iframe of
 * HOTLINE/chat/ (the origin of this script's own src). The merchant-signed identity is handed
 * to that iframe with postMessage, addressed to the iframe's origin only, never in a URL.
 * Styles are set through element.style (CSSOM), so a merchant's CSP without
 * 'unsafe-inline' styles does not break it. The only global is window.HotlineChat.
 */
(function () {
  "use strict";
  if (window.HotlineChat) {
    return;
  }

  var LABELS = {
    zh: { open: "在线客服", close: "关闭在线客服", frame: "在线客服" },
    en: { open: "Chat with us", close: "Close the chat", frame: "Chat with us" }
  };
  var Z = "2147483000";
  var NARROW = "(max-width: 479.98px)";

  function ownScript() {
    var s = document.currentScript;
    if (s && s.src) {
      return s;
    }
    var all = document.querySelectorAll("script[src]");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src)) {
        return all[i];
      }
    }
    return null;
  }

  var script = ownScript();
  if (!script) {
    return;
  }
  var origin = new URL(script.src, window.location.href).origin;
  var wanted = script.getAttribute("data-lang");
  var lang = wanted === "en" || wanted === "zh" ? wanted
    : (navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var identity = script.getAttribute("data-identity") || null;
  var words = LABELS[lang];

  var button = null;
  var frame = null;
  var isOpen = false;
  var narrow = window.matchMedia ? window.matchMedia(NARROW) : null;

  function css(el, rules) {
    for (var k in rules) {
      if (Object.prototype.hasOwnProperty.call(rules, k)) {
        el.style[k] = rules[k];
      }
    }
  }

  function svg(paths) {
    var ns = "http://www.w3.org/2000/svg";
    var el = document.createElementNS(ns, "svg");
    el.setAttribute("viewBox", "0 0 24 24");
    el.setAttribute("width", "28");
    el.setAttribute("height", "28");
    el.setAttribute("aria-hidden", "true");
    el.setAttribute("focusable", "false");
    for (var i = 0; i < paths.length; i++) {
      var p = document.createElementNS(ns, "path");
      p.setAttribute("d", paths[i]);
      p.setAttribute("fill", "currentColor");
      el.appendChild(p);
    }
    return el;
  }

  var ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"];
  var ICON_CLOSE = ["M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"];

  function drawButton() {
    while (button.firstChild) {
      button.removeChild(button.firstChild);
    }
    button.appendChild(svg(isOpen ? ICON_CLOSE : ICON_CHAT));
    button.setAttribute("aria-label", isOpen ? words.close : words.open);
    button.setAttribute("title", isOpen ? words.close : words.open);
    button.setAttribute("aria-expanded", isOpen ? "true" : "false");
  }

  function makeButton() {
    button = document.createElement("button");
    button.type = "button";
    button.setAttribute("data-hotline", "button");
    css(button, {
      position: "fixed", right: "20px", bottom: "20px", width: "60px", height: "60px",
      margin: "0", padding: "0", border: "0", borderRadius: "50%", cursor: "pointer",
      background: "#1f6feb", color: "#fff", boxShadow: "0 4px 14px rgba(0,0,0,.25)",
      display: "flex", alignItems: "center", justifyContent: "center", zIndex: Z
    });
    button.addEventListener("click", function () {
      if (isOpen) {
        close();
      } else {
        open();
      }
    });
    drawButton();
    document.body.appendChild(button);
  }

  function layout() {
    if (!frame) {
      return;
    }
    var full = narrow ? narrow.matches : window.innerWidth < 480;
    css(frame, full ? {
      top: "0", left: "0", right: "0", bottom: "0", width: "100%", height: "100%",
      maxHeight: "none", borderRadius: "0", boxShadow: "none"
    } : {
      top: "auto", left: "auto", right: "20px", bottom: "92px", width: "380px", height: "600px",
      maxHeight: "calc(100vh - 112px)", borderRadius: "12px",
      boxShadow: "0 8px 32px rgba(0,0,0,.28)"
    });
    frame.style.display = isOpen ? "block" : "none";
    // Full screen: the panel's own close button is used; the round button would cover it.
    button.style.display = isOpen && full ? "none" : "flex";
  }

  function post(message) {
    if (frame && frame.contentWindow) {
      frame.contentWindow.postMessage(message, origin);
    }
  }

  function tell() {
    post({ type: "hotline.identity", identity: identity });
    post({ type: "hotline.visible", visible: isOpen });
  }

  function makeFrame() {
    frame = document.createElement("iframe");
    frame.src = origin + "/chat/?lang=" + encodeURIComponent(lang);
    frame.title = words.frame;
    frame.setAttribute("data-hotline", "panel");
    frame.setAttribute("allow", "clipboard-write");
    frame.setAttribute("referrerpolicy", "no-referrer");
    css(frame, { position: "fixed", border: "0", background: "#fff", zIndex: Z, colorScheme: "normal" });
    frame.addEventListener("load", tell);
    document.body.appendChild(frame);
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== origin) {
      return;
    }
    var data = event.data;
    if (!data || typeof data !== "object") {
      return;
    }
    if (data.type === "hotline.ready") {
      tell();
    } else if (data.type === "hotline.close") {
      close();
    }
  });

  function open() {
    if (!document.body) {
      return;
    }
    if (!frame) {
      makeFrame();
    }
    isOpen = true;
    drawButton();
    layout();
    post({ type: "hotline.visible", visible: true });
    frame.focus();
  }

  function close() {
    if (!frame || !isOpen) {
      return;
    }
    isOpen = false;
    drawButton();
    layout();
    post({ type: "hotline.visible", visible: false });
    button.focus();
  }

  function start() {
    makeButton();
    if (narrow && narrow.addEventListener) {
      narrow.addEventListener("change", layout);
    } else {
      window.addEventListener("resize", layout);
    }
  }

  window.HotlineChat = Object.freeze({ open: open, close: close });
  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
