/* The alerts page: GET /api/v1/alerts, grouped by level, newest first, each alert with the
   signed entries that prove it (decoded here for reading; the node verified them on ingest). */
"use strict";

(() => {
  const { h, sentence, kindLabel, formatTs, shortId, api, explain } = Medtrace;
  const $ = (id) => document.getElementById(id);
  const LEVELS = [
    ["critical", "Critical"],
    ["warning", "Warning"],
  ];
  const wires = new Map();
  let downloadUrl = null;

  function decodePayload(b64) {
    try {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (e) {
      return null;
    }
  }

  function label(code) {
    const text = String(code).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function openEntry(id) {
    const wire = wires.get(id);
    if (!wire) return;
    const dialog = $("entry-dialog");
    const text = JSON.stringify(wire, null, 2);
    $("entry-dialog-title").textContent = `Signed entry ${shortId(id)}`;
    $("entry-wire").textContent = text;
    $("entry-payload").textContent = JSON.stringify(decodePayload(wire.payload), null, 2);
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([text + "\n"], { type: "application/json" }));
    const link = $("entry-download");
    link.href = downloadUrl;
    link.download = `entry-${id}.json`;
    if (!dialog.open) dialog.showModal();
    $("entry-dialog-close").focus();
  }

  function evidenceTable(alert) {
    const held = new Map((alert.entries || []).map((w) => [w.id, w]));
    const rows = alert.evidence.map((id, index) => {
      const wire = held.get(id);
      const last = index === alert.evidence.length - 1;
      if (!wire) {
        return h("tr", {},
          h("td", { colspan: "5" }, "Entry ", h("code", { title: id }, shortId(id)), " is not held by this node."),
          h("td", {}, "—"));
      }
      wires.set(id, wire);
      const p = decodePayload(wire.payload) || {};
      return h("tr", { class: last ? "evidence__trigger" : null },
        h("td", { class: "mono" }, p.feed || "?"),
        h("td", { class: "num" }, p.seq === undefined ? "?" : String(p.seq)),
        h("td", {}, kindLabel(p.kind), last ? h("span", { class: "tag" }, "trigger") : null),
        h("td", {}, p.ts ? h("time", { datetime: p.ts }, formatTs(p.ts)) : "?"),
        h("td", {},
          h("a", {
            href: `#entry-${id}`,
            class: "entry-link mono",
            title: `Show the wire form of entry ${id}`,
            onclick: (event) => {
              event.preventDefault();
              openEntry(id);
            },
          }, shortId(id))),
        h("td", { class: "verified" }, h("span", { "aria-hidden": "true" }, "✓ "), "verified by node"));
    });
    return h("table", { class: "evidence" },
      h("caption", { class: "visually-hidden" }, `Evidence of alert ${shortId(alert.id)}`),
      h("thead", {}, h("tr", {},
        ...["Feed", "Seq", "Kind", "Time", "Entry (wire JSON)", "Signature"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows));
  }

  function alertCard(alert) {
    return h("article", { class: `alert-card alert-card--${alert.level}`, "data-code": alert.code },
      h("header", { class: "alert-card__head" },
        h("span", { class: `badge badge--${alert.level}` }, alert.level),
        h("h3", { class: "alert-card__code" }, label(alert.code)),
        h("code", { class: "alert-card__id", title: alert.id }, shortId(alert.id))),
      h("p", { class: "alert-card__message" }, sentence(alert.message)),
      h("p", { class: "alert-card__subject" }, "Subject ", h("code", {}, alert.subject)),
      h("div", { class: "table-wrap" }, evidenceTable(alert)));
  }

  /* The filters besides the code: each a query parameter of GET /api/v1/alerts. */
  const FILTERS = [
    ["product", "product-filter"],
    ["organisation", "organisation-filter"],
    ["declaration", "declaration-filter"],
    ["country", "country-filter"],
  ];

  function filters() {
    const found = [];
    const code = $("code-filter").value;
    if (code) found.push(["code", code]);
    const level = document.querySelector("input[name=level]:checked");
    if (level && level.value) found.push(["level", level.value]);
    for (const [name, id] of FILTERS) {
      const value = $(id).value.trim();
      if (value) found.push([name, value]);
    }
    return found;
  }

  function describe(found) {
    const parts = found.map(([name, value]) => name === "code" ? `code “${label(value)}”` : `${name} ${value}`);
    return parts.length ? ` with ${parts.join(", ")}` : "";
  }

  function render(data, found) {
    const alerts = data.alerts.slice().reverse();  /* newest first */
    wires.clear();
    const groups = LEVELS.map(([level, title]) => {
      const mine = alerts.filter((a) => a.level === level);
      if (!mine.length) return null;
      return h("section", { class: `alert-group alert-group--${level}`, "aria-labelledby": `group-${level}` },
        h("h2", { class: "alert-group__title", id: `group-${level}` }, `${title} `,
          h("span", { class: "count" }, String(mine.length))),
        mine.map(alertCard));
    });
    $("alert-groups").replaceChildren(...groups.filter(Boolean));
    const critical = alerts.filter((a) => a.level === "critical").length;
    const what = describe(found);
    $("alerts-summary").textContent = data.count === 0
      ? `No alerts${what}.`
      : `${data.count} alert${data.count === 1 ? "" : "s"}${what}: ${critical} critical, ` +
        `${alerts.length - critical} warning` +
        (data.count > alerts.length ? ` (the ${alerts.length} most recent shown)` : "") + ".";
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash.startsWith("entry-")) openEntry(hash.slice(6));
  }

  async function load() {
    const found = filters();
    const url = new URL(location.href);
    for (const name of ["code", "level", ...FILTERS.map(([n]) => n)]) url.searchParams.delete(name);
    for (const [name, value] of found) url.searchParams.set(name, value);
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    if (!Medtrace.token()) {
      $("alert-groups").replaceChildren();
      $("alerts-summary").textContent = "Enter a token to load the alerts.";
      return;
    }
    $("alerts-summary").textContent = "Loading…";
    try {
      const query = new URLSearchParams(found).toString();
      render(await api(`/api/v1/alerts${query ? "?" + query : ""}`), found);
    } catch (err) {
      if (err instanceof Medtrace.ApiError && (err.status === 401 || err.status === 403)) {
        Medtrace.refuseToken(err);  /* never left shown as in use */
      }
      $("alert-groups").replaceChildren();
      $("alerts-summary").textContent = explain(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const params = new URLSearchParams(location.search);
    const initial = params.get("code");
    const select = $("code-filter");
    if (initial && Array.from(select.options).some((o) => o.value === initial)) select.value = initial;
    for (const [name, id] of FILTERS) {
      const value = params.get(name);
      if (value !== null) $(id).value = value;
    }
    const level = $(`level-${params.get("level")}`);
    if (level && level.type === "radio") level.checked = true;
    for (const radio of document.querySelectorAll("input[name=level]")) radio.addEventListener("change", load);
    $("filter-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    select.addEventListener("change", load);
    const dialog = $("entry-dialog");
    $("entry-dialog-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();  /* a click on the backdrop */
    });
    Medtrace.onToken(load);
    load();
  });
})();
