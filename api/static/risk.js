/* The risk page: GET /api/v1/risk/summary drawn as inline SVG charts (no library, no inline
   style: colours come from classes in medtrace.css). One chart of declarations per week stacked
   by lane (or all declarations where this node cannot score them), one of inspection outcomes
   stacked by kind with the week's holds, detentions and seizures as a line. */
"use strict";

(() => {
  const { h, api, explain } = Medtrace;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const H = 240, LEFT = 36, RIGHT = 8, TOP = 12, BOTTOM = 44;
  const LANES = [["green", "Green: release"], ["yellow", "Yellow: documents"],
    ["red", "Red: inspection"], ["blue", "Blue: audit"]];
  const OUTCOMES = [["found_falsified", "Found falsified"], ["found_compliant", "Found compliant"],
    ["not_inspected", "Not inspected"]];

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function niceMax(n) {
    if (n <= 4) return 4;
    const step = 10 ** Math.floor(Math.log10(n));
    return Math.ceil(n / step) * step;
  }

  /* series: [[key, label]]; values(week) -> {key: n}; line(week) -> n or null */
  function chart(id, title, desc, weeks, series, values, line) {
    /* drawn at the figure's own width, so that its text stays legible on a phone */
    const W = Math.max(300, Math.min(760, $(`${id}-chart`).clientWidth || 640));
    const totals = weeks.map((w) => series.reduce((t, [k]) => t + (values(w)[k] || 0), 0));
    const lineValues = line ? weeks.map(line) : [];
    const max = niceMax(Math.max(0, ...totals, ...lineValues));
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const slot = plotW / weeks.length, bar = Math.max(2, slot * 0.7);
    const y = (n) => TOP + plotH - (n / max) * plotH;
    const titleId = `${id}-title`, descId = `${id}-desc`;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart__svg",
      "aria-labelledby": `${titleId} ${descId}` },
      s("title", { id: titleId }, title), s("desc", { id: descId }, desc));
    for (const tick of [0, max / 2, max]) {
      svg.append(s("line", { x1: LEFT, x2: W - RIGHT, y1: y(tick), y2: y(tick), class: "chart__grid" }),
        s("text", { x: LEFT - 4, y: y(tick) + 4, class: "chart__axis chart__axis--y" }, String(Math.round(tick))));
    }
    const every = Math.ceil(weeks.length / Math.max(2, Math.floor(plotW / 56)));  /* labels apart */
    weeks.forEach((w, i) => {
      const x = LEFT + i * slot + (slot - bar) / 2;
      let base = 0;
      for (const [key, label] of series) {
        const n = values(w)[key] || 0;
        if (!n) continue;
        svg.append(s("rect", { x, y: y(base + n), width: bar, height: y(base) - y(base + n),
          class: `chart__bar chart__bar--${key}`, "data-week": w.week, "data-series": key },
          s("title", {}, `${w.week}: ${n} ${label.toLowerCase()}`)));
        base += n;
      }
      if (i % every === 0) {
        svg.append(s("text", { x: x + bar / 2, y: H - BOTTOM + 16, class: "chart__axis chart__axis--x" },
          w.week.slice(5)), s("text", { x: x + bar / 2, y: H - BOTTOM + 30, class: "chart__axis chart__axis--x chart__axis--year" },
          w.week.slice(0, 4)));
      }
    });
    if (line) {
      const points = lineValues.map((n, i) => `${LEFT + i * slot + slot / 2},${y(n)}`).join(" ");
      svg.append(s("polyline", { points, class: "chart__line" }));
      lineValues.forEach((n, i) => svg.append(s("circle", { cx: LEFT + i * slot + slot / 2, cy: y(n), r: 3,
        class: "chart__dot" }, s("title", {}, `${weeks[i].week}: ${n} held, detained or seized`))));
    }
    svg.append(s("line", { x1: LEFT, x2: W - RIGHT, y1: y(0), y2: y(0), class: "chart__baseline" }));
    return svg;
  }

  function legend(series, lineLabel) {
    return h("ul", { class: "chart__legend" },
      series.map(([key, label]) => h("li", {}, h("span", { class: `chart__key chart__key--${key}`, "aria-hidden": "true" }), label)),
      lineLabel ? h("li", {}, h("span", { class: "chart__key chart__key--line", "aria-hidden": "true" }), lineLabel) : null);
  }

  function sum(weeks, f) {
    return weeks.reduce((t, w) => t + f(w), 0);
  }

  let shown = null;  /* the last answer drawn, drawn again at a new width (a phone turned) */
  let resizing = null;

  function render(data) {
    shown = data;
    /* shown first: a hidden figure has no width to draw at */
    $("lanes-card").hidden = false;
    $("outcomes-card").hidden = false;
    const weeks = data.weeks;
    const first = weeks[0].week, last = weeks[weeks.length - 1].week;
    const declared = sum(weeks, (w) => w.declarations);
    const inspected = sum(weeks, (w) => w.outcomes.found_falsified + w.outcomes.found_compliant);
    const found = sum(weeks, (w) => w.outcomes.found_falsified);
    const scored = data.lanes_unavailable === null;
    const random = scored ? sum(weeks, (w) => w.random) : null;
    $("risk-summary").textContent = `${first} to ${last}: ${declared} declarations lodged` +
      (scored ? `, ${random} selected at random` : "") +
      `; ${inspected} inspected, ${found} found falsified.`;
    const lanes = scored ? LANES : [["declarations", "Declarations lodged"]];
    $("lanes-note").textContent = scored ? "" : `No lanes at this node: ${data.lanes_unavailable}. Shown: every declaration lodged.`;
    $("lanes-note").hidden = scored;
    $("lanes-chart").replaceChildren(
      chart("lanes", scored ? "Declarations per week by lane" : "Declarations lodged per week",
        `Stacked bars, one per ISO week from ${first} to ${last}; ${declared} declarations in all.`,
        weeks, lanes, (w) => (scored ? w.lanes : { declarations: w.declarations })),
      legend(lanes));
    const stops = (w) => w.decisions.hold + w.decisions.detain + w.decisions.seize;
    $("outcomes-chart").replaceChildren(
      chart("outcomes", "Inspection outcomes per week, with holds, detentions and seizures",
        `Stacked bars of outcomes per ISO week from ${first} to ${last}: ${found} found falsified of ${inspected} inspected; the line counts the decisions that stopped goods.`,
        weeks, OUTCOMES, (w) => w.outcomes, stops),
      legend(OUTCOMES, "Held, detained or seized"));
  }

  async function load() {
    if (!Medtrace.token()) {
      $("risk-summary").textContent = "Enter a token to see the chart.";
      $("lanes-card").hidden = true;
      $("outcomes-card").hidden = true;
      shown = null;
      return;
    }
    $("risk-summary").textContent = "Counting…";
    try {
      render(await api(`/api/v1/risk/summary?weeks=${encodeURIComponent($("risk-weeks").value)}`));
    } catch (err) {
      if (err instanceof Medtrace.ApiError && (err.status === 401 || err.status === 403)) {
        Medtrace.refuseToken(err);
      }
      $("lanes-card").hidden = true;
      $("outcomes-card").hidden = true;
      $("risk-summary").textContent = explain(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("risk-weeks").addEventListener("change", load);
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { if (shown && !$("lanes-card").hidden) render(shown); }, 150);
    });
    Medtrace.onToken(load);
    load();
  });
})();
