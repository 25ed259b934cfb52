/* medtrace web pages: the bearer token (this tab only), calls to the JSON API, small helpers.
   No framework, no third-party code. Ledger data is untrusted text: it is only ever set as
   textContent, never parsed as HTML. */
"use strict";

const Medtrace = (() => {
  const KEY = "medtrace.token";
  const listeners = [];

  function token() {
    try {
      return sessionStorage.getItem(KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function setToken(value) {
    try {
      if (value) sessionStorage.setItem(KEY, value);
      else sessionStorage.removeItem(KEY);
    } catch (e) {
      /* storage disabled: the token lives until the page is left */
    }
    showTokenState();
    listeners.forEach((fn) => fn(value));
  }

  function onToken(fn) {
    listeners.push(fn);
  }

  /** h("p", {class: "x"}, "text", child): an element; strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** A message as a sentence: capital first letter, final full stop. */
  function sentence(text) {
    const t = String(text || "").trim();
    if (!t) return "";
    const first = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?]$/.test(first) ? first : first + ".";
  }

  const KIND_LABELS = {
    commission: "Commissioned", pack: "Packed", unpack: "Unpacked", ship: "Shipped",
    receive: "Received", inspect: "Inspected", dispense: "Dispensed", undo: "Undone",
    destroy: "Destroyed", stolen: "Reported stolen", export: "Exported", sample: "Sampled",
    lock: "Locked", unlock: "Unlocked", recall: "Lot recalled", withdraw: "Product withdrawn",
    return: "Returned", membership: "Membership changed",
  };

  function kindLabel(kind) {
    return KIND_LABELS[kind] || String(kind);
  }

  /** "2026-03-05T15:42:00.000Z" -> "5 Mar 2026, 15:42 UTC" (times are shown in UTC). */
  function formatTs(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return String(ts);
    const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()}, ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  function shortId(id) {
    return String(id || "").slice(0, 12) + "…";
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem || {};
    }
  }

  /** fetch() a JSON API path with the token; a problem answer throws an ApiError. */
  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    const headers = new Headers(opts.headers || {});
    const t = token();
    if (t) headers.set("Authorization", "Bearer " + t);
    headers.set("Accept", "application/json, application/problem+json");
    opts.headers = headers;
    opts.credentials = "omit";
    opts.cache = "no-store";
    let response;
    try {
      response = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, { title: "The node cannot be reached", detail: "the node cannot be reached: check the network" });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  /** What to tell a person about an API error. */
  function explain(err) {
    if (!(err instanceof ApiError)) return String(err);
    if (err.status === 401) return "The token is missing or not valid at this node: enter a valid token above.";
    if (err.status === 403) return "This token's role may not do this here: ask for a token with the right role.";
    if (err.status === 429) {
      const wait = err.problem.retry_after;
      return "Too many verifications for this token" + (wait ? `: try again in ${wait} s.` : ".");
    }
    return sentence(err.problem.detail || err.message);
  }

  let editing = false;

  function showTokenState() {
    const state = document.getElementById("token-state");
    const panel = document.getElementById("token-panel");
    if (!state || !panel) return;
    const t = token();
    panel.classList.toggle("token--set", Boolean(t));
    document.getElementById("token-form").hidden = Boolean(t) && !editing;
    document.getElementById("token-actions").hidden = !t;
    document.getElementById("token-change").hidden = editing;
    state.textContent = t
      ? `Token ${t.slice(0, 7)}… is in use, kept in this browser tab only.`
      : "No token yet: paste the one your node administrator gave you.";
  }

  /** Open the token form (a token was refused, or the user wants another one). */
  function editToken() {
    editing = true;
    showTokenState();
    const input = document.getElementById("token-input");
    if (input) input.focus();
  }

  function initTokenForm() {
    const form = document.getElementById("token-form");
    if (!form) return;
    const input = document.getElementById("token-input");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) {
        input.focus();
        return;
      }
      input.value = "";
      editing = false;
      setToken(value);
    });
    document.getElementById("token-change").addEventListener("click", editToken);
    document.getElementById("token-forget").addEventListener("click", () => {
      input.value = "";
      editing = false;
      setToken("");
      input.focus();
    });
    showTokenState();
  }

  document.addEventListener("DOMContentLoaded", initTokenForm);

  return { token, setToken, editToken, onToken, h, sentence, kindLabel, formatTs, shortId, api, explain, ApiError };
})();
