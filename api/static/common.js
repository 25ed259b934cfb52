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

  /** "2026-03-05T15:42:07.000Z" -> "5 Mar 2026, 15:42:07 UTC" (times are shown in UTC). */
  function formatTs(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return String(ts);
    const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()}, ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
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
    if (t && !headers.has("Authorization")) headers.set("Authorization", "Bearer " + t);
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
  /** A token the node refused (never shown as in use): {prefix, text}. */
  let refused = null;
  let checking = false;

  /** The roles this page works with (the body's data-roles), e.g. ["verifier", "operator"]. */
  function pageRoles() {
    const roles = (document.body && document.body.dataset.roles) || "";
    return roles.split(/\s+/).filter(Boolean);
  }

  function who() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY + ".who") || "null");
    } catch (e) {
      return null;
    }
  }

  function roleList(roles) {
    if (roles.length < 2) return roles.join("");
    return roles.slice(0, -1).join(", ") + " or " + roles[roles.length - 1];
  }

  function showTokenState() {
    const state = document.getElementById("token-state");
    const panel = document.getElementById("token-panel");
    if (!state || !panel) return;
    const t = token();
    panel.classList.toggle("token--set", Boolean(t));
    panel.classList.toggle("token--refused", Boolean(refused) && !t);
    document.getElementById("token-form").hidden = Boolean(t) && !editing;
    document.getElementById("token-actions").hidden = !t;
    document.getElementById("token-change").hidden = editing;
    if (checking) {
      state.textContent = "Checking the token with this node…";
    } else if (t) {
      const w = who();
      const as = w && w.role ? ` (${w.role}${w.user ? " " + w.user : ""})` : "";
      state.textContent = `Token ${t.slice(0, 7)}…${as} is in use, kept in this browser tab only.`;
    } else if (refused) {
      state.textContent = refused;
    } else {
      state.textContent = "No token yet: paste the one your node administrator gave you.";
    }
  }

  /** Open the token form (a token was refused, or the user wants another one). */
  function editToken() {
    editing = true;
    showTokenState();
    const input = document.getElementById("token-input");
    if (input) input.focus();
  }

  /** The node refused the token in use (401) or its role (403): it is no longer shown as in
      use, and the form opens for another one. */
  function refuseToken(err) {
    const t = token();
    const prefix = t ? `Token ${t.slice(0, 7)}…` : "The token";
    if (err && err.status === 403) {
      const w = who();
      refused = `${prefix}${w && w.role ? ` (role ${w.role})` : ""} may not do this here: ask for a token with the right role.`;
    } else {
      refused = `${prefix} is not valid at this node (unknown, revoked or expired).`;
    }
    editing = true;
    forget();
    listeners.forEach((fn) => fn(""));
    editToken();
  }

  function forget() {
    try {
      sessionStorage.removeItem(KEY);
      sessionStorage.removeItem(KEY + ".who");
    } catch (e) {
      /* storage disabled */
    }
  }

  /** Ask the node who the token is (GET /api/v1/whoami) before keeping it. */
  async function checkToken(value) {
    const prefix = `Token ${value.slice(0, 7)}…`;
    checking = true;
    refused = null;
    showTokenState();
    let answer = null;
    try {
      answer = await api("/api/v1/whoami", { headers: { Authorization: "Bearer " + value } });
    } catch (err) {
      checking = false;
      if (err instanceof ApiError && err.status === 401) {
        refused = `${prefix} is not valid at this node (unknown, revoked or expired): check it and enter it again.`;
      } else {
        refused = `${prefix} could not be checked: ${explain(err)}`;
      }
      return null;
    }
    checking = false;
    const roles = pageRoles();
    if (roles.length && !roles.includes(answer.role)) {
      const article = /^[aeiou]/.test(roles[0]) ? "an" : "a";
      refused = `${prefix} has role ${answer.role}; this page needs ${article} ${roleList(roles)} token.`;
      return null;
    }
    return answer;
  }

  function initTokenForm() {
    const form = document.getElementById("token-form");
    if (!form) return;
    const input = document.getElementById("token-input");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value || checking) {
        input.focus();
        return;
      }
      const answer = await checkToken(value);
      if (!answer) {
        forget();
        editing = true;
        showTokenState();
        input.select();
        input.focus();
        return;
      }
      input.value = "";
      editing = false;
      refused = null;
      try {
        sessionStorage.setItem(KEY + ".who", JSON.stringify({ role: answer.role, user: answer.user }));
      } catch (e) {
        /* storage disabled */
      }
      setToken(value);
    });
    document.getElementById("token-change").addEventListener("click", editToken);
    document.getElementById("token-forget").addEventListener("click", () => {
      input.value = "";
      editing = false;
      refused = null;
      forget();
      setToken("");
      input.focus();
    });
    showTokenState();
  }

  document.addEventListener("DOMContentLoaded", initTokenForm);

  return {
    token, setToken, editToken, refuseToken, onToken, h, sentence, kindLabel, formatTs, shortId,
    api, explain, ApiError,
  };
})();
