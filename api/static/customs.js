/* The customs page: lodge declarations (POST /api/v1/declarations), check a whole consignment
   by its case or pallet code or its declaration (POST /api/v1/scan), and decide on it
   (POST /api/v1/declarations/{reference}/decision and …/inspection). */
"use strict";

(() => {
  const { h, sentence, shortId, api, explain, ApiError } = Medtrace;
  const $ = (id) => document.getElementById(id);
  const JSON_HEADERS = { "Content-Type": "application/json" };
  const MAX_FILE = 5 * 1024 * 1024;

  const PHRASES = {
    RELEASE: "Every pack checked passes: the consignment may be released.",
    HOLD: "Keep the consignment under customs control and investigate.",
    REJECT: "Detain the consignment: packs in it must not enter the market.",
  };
  const DECIDED = { release: "released", hold: "held", detain: "detained", seize: "seized" };
  const OUTCOMES = {
    found_falsified: "found falsified", found_compliant: "found compliant", not_inspected: "not inspected",
  };
  const EXAMPLE = {
    reference: "DE-2026-000123",
    consignor: { name: "Sunrise Generics Pvt Ltd", address: { city: "Pune", country: "IN" } },
    consignee: { name: "Acme Pharma GmbH", addressType: "business", address: { city: "Hamburg", country: "DE" } },
    declarant: { name: "Nord Customs Brokers GmbH", address: { city: "Hamburg", country: "DE" } },
    countryOfOrigin: "IN",
    countryOfDispatch: "AE",
    transportMode: 1,
    officeOfEntry: "DE004098",
    goods: [{ hsCode: "300410", description: "Amoxicillin 500 mg hard capsules, 20 per pack",
      gtin: "04012345000016", quantity: 2, netMassKg: "0.056", value: { amount: "11.20", currency: "EUR" } }],
    packages: [{ sscc: "040123450000000016" }],
  };

  let busy = false;
  /* The declaration the consignment shown belongs to, to decide on. */
  let reference = null;

  function setVerdict(kind, word, sub) {
    const box = $("verdict");
    box.className = `verdict verdict--${kind}`;
    box.dataset.verdict = kind;
    $("verdict-word").textContent = word;
    $("verdict-sub").textContent = sub;
    if (kind === "release" || kind === "hold" || kind === "reject") box.setAttribute("aria-label", `${word}. ${sub}`);
    else box.removeAttribute("aria-label");
    if (kind !== "busy" && window.matchMedia("(max-width: 820px)").matches) {
      box.scrollIntoView({ block: "start", behavior: "smooth" });
    }
  }

  function say(id, text, ok) {
    const line = $(id);
    line.textContent = text;
    line.className = "outcome" + (text ? (ok ? " outcome--ok" : " outcome--refused") : "");
  }

  /** A problem as one line; a refused token is never left shown as in use. */
  function problemLine(err) {
    if (err instanceof ApiError && err.status === 401) Medtrace.refuseToken(err);
    if (err instanceof ApiError && err.problem.path) {
      const detail = String(err.problem.detail || "");
      return sentence(detail.startsWith(err.problem.path) ? detail : `${err.problem.path}: ${detail}`);
    }
    return explain(err);
  }

  function needToken() {
    if (Medtrace.token()) return false;
    Medtrace.editToken();
    return true;
  }

  /* -- declarations ------------------------------------------------------------------------ */

  /** The declarations in ``text``: one object, a list, or {"declarations": [...]}; a string
      saying what was expected otherwise. */
  function declarationsIn(text, source) {
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return `${source} is not JSON: expected one declaration, a list of them, or {"declarations": […]} (docs/spec/customs.md).`;
    }
    if (Array.isArray(value)) return value;
    if (value && typeof value === "object" && Array.isArray(value.declarations)) return value.declarations;
    if (value && typeof value === "object" && !Array.isArray(value)) return [value];
    return `${source} holds no declaration: expected an object with a reference, a list of them, or {"declarations": […]}.`;
  }

  async function lodge(text, source) {
    if (busy) return;
    if (needToken()) {
      say("declare-state", "Enter an operator token first (above).", false);
      return;
    }
    const declarations = declarationsIn(text, source);
    if (typeof declarations === "string") {
      say("declare-state", declarations, false);
      return;
    }
    busy = true;
    say("declare-state", `Lodging ${declarations.length} declaration${declarations.length === 1 ? "" : "s"}…`, true);
    try {
      const answer = await api("/api/v1/declarations", {
        method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ declarations }),
      });
      const lodged = answer.declared || [];
      say("declare-state", `Lodged ${lodged.length} declaration${lodged.length === 1 ? "" : "s"}: signed on this customs post's feed.`, true);
      listDeclared(lodged);
    } catch (err) {
      say("declare-state", `Not lodged: ${problemLine(err)}`, false);
    } finally {
      busy = false;
    }
  }

  function listDeclared(lodged) {
    const list = $("declared");
    for (const each of lodged) {
      const check = h("button", { type: "button", class: "button button--quiet", "data-reference": each.reference }, "Check");
      check.addEventListener("click", () => checkConsignment(each.reference));
      const packages = `${each.packages} package${each.packages === 1 ? "" : "s"}`;
      list.prepend(h("li", { class: "declared__item", "data-reference": each.reference },
        h("span", { class: "mono declared__reference" }, each.reference),
        laneBadge(each.risk),
        learnedBadge(each.risk),
        h("span", { class: "declared__meta" }, `${packages} · entry `, h("code", { title: each.entry }, shortId(each.entry))),
        check,
        laneReasons(each.risk),
        learnedReasons(each.risk)));
    }
    $("declared-block").hidden = list.children.length === 0;
  }

  // The risk lane the node gave the declaration (docs/spec/risk.md): green release, yellow
  // documents, red physical inspection, blue post-clearance audit; every other lane says why.
  const LANE_WORDS = { green: "Green: release", yellow: "Yellow: check documents", red: "Red: inspect", blue: "Blue: audit later" };

  function laneBadge(risk) {
    if (!risk) return h("span", { class: "lane lane--none" }, "no lane");
    return h("span", { class: `lane lane--${risk.lane}`, "data-lane": risk.lane, title: `score ${risk.score}` },
      LANE_WORDS[risk.lane] || risk.lane);
  }

  function laneReasons(risk) {
    const reasons = (risk && risk.reasons) || [];
    if (!reasons.length) return null;
    return h("p", { class: "lane-reasons" }, ...reasons.map((r) =>
      h("span", { class: "lane-reason" }, h("code", {}, r.code), ` ${r.rationale || r.name}`)));
  }

  // The learned score beside the lane, where the node has a model (risk.model, docs/spec/risk.md):
  // the probability that an inspection finds the declaration falsified, never without the
  // features that moved it most.
  function learnedBadge(risk) {
    const learned = risk && risk.learned;
    if (!learned) return null;
    return h("span", { class: "learned", "data-score": String(learned.score), title: `model ${learned.model}` },
      `learned score ${learned.score.toFixed(2)}`);
  }

  function learnedReasons(risk) {
    const learned = risk && risk.learned;
    if (!learned || !(learned.contributions || []).length) return null;
    return h("p", { class: "learned-reasons" }, "Learned score, largest contributions: ",
      ...learned.contributions.map((c) => h("span", { class: "learned-reason" },
        h("code", {}, c.feature), ` ${c.value} `,
        h("span", { class: c.contribution > 0 ? "learned-up" : "learned-down" },
          `${c.contribution > 0 ? "+" : ""}${c.contribution.toFixed(2)}`))));
  }

  function initDeclare() {
    const file = $("declare-file");
    const drop = $("declare-drop");
    const read = (chosen) => {
      if (!chosen) return;
      if (chosen.size > MAX_FILE) {
        say("declare-state", `${chosen.name} is ${Math.ceil(chosen.size / 1048576)} MiB: expected a JSON file of at most 5 MiB.`, false);
        return;
      }
      chosen.text().then((text) => lodge(text, chosen.name));
    };
    file.addEventListener("change", () => {
      read(file.files && file.files[0]);
      file.value = "";
    });
    ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("drop--over");
    }));
    ["dragleave", "dragend"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("drop--over")));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("drop--over");
      read(event.dataTransfer && event.dataTransfer.files[0]);
    });
    $("declare-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("declare-json").value;
      if (!text.trim()) {
        $("declare-json").focus();
        return;
      }
      lodge(text, "The text");
    });
    $("fields-form").addEventListener("submit", (event) => {
      event.preventDefault();
      lodge(JSON.stringify(declarationOfForm()), "The form");
    });
    $("declare-example").addEventListener("click", () => {
      $("declare-json").value = JSON.stringify(EXAMPLE, null, 2);
      $("declare-json").focus();
    });
  }

  /** The declaration the form describes (one goods item); the node checks every field. */
  function declarationOfForm() {
    const v = (id) => $(id).value.trim();
    const upper = (id) => v(id).toUpperCase();
    const party = (name, country) => ({ name: v(name), address: { country: upper(country) } });
    const declaration = {
      reference: upper("f-reference"),
      consignor: party("f-consignor", "f-consignor-country"),
      consignee: Object.assign(party("f-consignee", "f-consignee-country"), { addressType: $("f-consignee-type").value }),
      declarant: party("f-declarant", "f-declarant-country"),
      countryOfOrigin: upper("f-origin"),
      countryOfDispatch: upper("f-dispatch"),
      transportMode: Number($("f-mode").value),
      officeOfEntry: upper("f-office"),
      consignmentType: $("f-type").value,
      lowValue: $("f-low").checked,
      goods: [Object.assign(
        { hsCode: v("f-hs"), description: v("f-description") },
        v("f-gtin") ? { gtin: v("f-gtin") } : {},
        { quantity: /^\d+$/.test(v("f-quantity")) ? Number(v("f-quantity")) : v("f-quantity"),
          netMassKg: v("f-mass"), value: { amount: v("f-value"), currency: upper("f-currency") } })],
      packages: $("f-packages").value.split("\n").map((line) => line.trim()).filter(Boolean).map(packageOf),
    };
    if (v("f-mrn")) declaration.mrn = upper("f-mrn");
    const transit = v("f-transit").split(/[\s,;]+/).filter(Boolean).map((c) => c.toUpperCase());
    if (transit.length) declaration.transit = { countries: transit };
    return declaration;
  }

  /** "(00)0401…", "0401…" (18 digits), or "GTIN SERIAL" as a declaration's package. */
  function packageOf(line) {
    const sscc = line.replace(/^\(00\)\s*/, "");
    if (/^\d{18}$/.test(sscc)) return { sscc };
    const [gtin, ...serial] = line.replace(/^\(01\)/, "").split(/\s*\(21\)\s*|\s+/);
    return { gtin, serial: serial.join(" ") };
  }

  /* -- the consignment ------------------------------------------------------------------- */

  /** What the field holds: a scanned code goes as text at the border, anything else is a
      declaration reference (1–35 of A-Z 0-9 / -, with a letter). */
  function scanBody(value) {
    const text = value.trim();
    const code = /^[(\]]|^https?:|^\d+$|\x1d/.test(text) || !/[A-Za-z]/.test(text);
    return code ? { text, context: "border" } : { declaration: text };
  }

  async function checkConsignment(value) {
    if (busy) return;
    $("check-input").value = value;
    if (needToken()) {
      setVerdict("error", "Not checked", "Enter an operator token first (above).");
      return;
    }
    busy = true;
    $("consignment").hidden = true;
    setVerdict("busy", "Checking…", "Verifying every pack of the consignment against the ledger.");
    try {
      const answer = await api("/api/v1/scan", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(scanBody(value)) });
      if (answer.kind === "consignment") renderConsignment(answer);
      else renderPack(answer);
    } catch (err) {
      const type = (err instanceof ApiError && err.problem.type) || "";
      if (type.endsWith(":scan-error")) setVerdict("scan-error", "Scan error — rescan", sentence(err.problem.hint || err.problem.detail));
      else setVerdict("error", "Not checked", problemLine(err));
    } finally {
      busy = false;
    }
  }

  function plural(n, one, many) {
    return `${Number(n).toLocaleString("en-GB")} ${n === 1 ? one : many || one + "s"}`;
  }

  function reasonLabel(code) {
    return String(code).replace(/_/g, " ");
  }

  function referenceOf(declaration) {
    if (!declaration) return null;
    if (typeof declaration === "string") return declaration;
    return declaration.reference || null;
  }

  function productName(product) {
    if (!product) return "";
    const detail = [product.strength, product.form, product.packSize && `${product.packSize} per pack`].filter(Boolean).join(", ");
    return detail ? `${product.name} (${detail})` : product.name;
  }

  function renderConsignment(answer) {
    const verdict = answer.verdict;
    setVerdict(verdict.toLowerCase(), verdict, PHRASES[verdict] || "");
    const ms = Number(answer.elapsed_ms);
    const seconds = Number.isNaN(ms) ? "" : ms < 1000 ? ` in ${Math.round(ms)} ms` : ` in ${(ms / 1000).toFixed(1)} s`;
    const codes = answer.containers || [];
    const under = codes.length > 3 ? ` under ${plural(codes.length, "case or pallet code")}`
      : codes.length ? ` under ${codes.map((c) => `(00)${c}`).join(", ")}` : "";
    $("consignment-summary").textContent = `Checked ${plural(answer.checked, "pack")} of ${Number(answer.total).toLocaleString("en-GB")}` +
      under + seconds + ".";
    const unknown = answer.unknown_containers || [];
    $("consignment-findings").replaceChildren(
      ...(answer.findings || []).map((f) => h("li", { class: "reason reason--hold" },
        h("span", { class: "reason__text" }, sentence(f.message)), h("code", { class: "reason__code" }, f.code))),
      ...(unknown.length && !(answer.findings || []).length ? [h("li", { class: "reason reason--hold" },
        h("span", { class: "reason__text" }, `Unknown to this node: ${unknown.join(", ")}.`))] : []));

    const counts = answer.counts || {};
    $("counts").replaceChildren(...["RELEASE", "HOLD", "REJECT"].map((v) =>
      h("li", { class: `count-pill count-pill--${v.toLowerCase()}`, "data-verdict": v },
        h("strong", {}, Number(counts[v] || 0).toLocaleString("en-GB")), ` ${v}`)));

    const reasons = Object.entries(answer.reasons || {}).sort((a, b) => b[1] - a[1]);
    $("reasons-block").hidden = reasons.length === 0;
    $("reason-counts-body").replaceChildren(...reasons.map(([code, n]) =>
      h("tr", { "data-reason": code }, h("td", {}, reasonLabel(code)), h("td", { class: "num" }, Number(n).toLocaleString("en-GB")))));

    const check = answer.declaration_check;
    reference = referenceOf(answer.declaration);
    $("declaration-block").hidden = !reference && !check;
    if (check) {
      $("declaration-line").textContent = check.agrees
        ? `Declaration ${reference || ""} agrees with the ledger: goods, quantities, consignor and route.`
        : `Declaration ${reference || ""} does not agree with the ledger:`;
      $("declaration-line").className = check.agrees ? "agrees" : "disagrees";
    } else {
      $("declaration-line").textContent = reference ? `Declaration ${reference}.` : "";
      $("declaration-line").className = "";
    }
    $("declaration-findings").replaceChildren(...((check && check.findings) || []).map((f) =>
      h("li", { class: "reason reason--hold" }, h("span", { class: "reason__text" }, sentence(f.message)), h("code", { class: "reason__code" }, f.code))));

    $("products-body").replaceChildren(...(answer.products || []).map((p) =>
      h("tr", { class: p.registered === false ? "unregistered" : null },
        h("td", {}, p.registered === false || !p.name ? "No registered product" : productName(p)),
        h("td", { class: "mono nowrap" }, p.gtin),
        h("td", { class: "num" }, Number(p.count || 0).toLocaleString("en-GB")))));

    const offending = answer.offending || [];
    const bad = Number(counts.REJECT || 0) + Number(counts.HOLD || 0);
    $("offending-block").hidden = bad === 0;
    $("offending-table").hidden = offending.length === 0;
    $("offending-body").replaceChildren(...offending.map((o) =>
      h("tr", { class: `offending--${String(o.verdict).toLowerCase()}` },
        h("td", { class: "mono" }, o.gtin && o.serial ? `${o.gtin} / ${o.serial}` : o.pack),
        h("td", {}, h("span", { class: `count-pill count-pill--${String(o.verdict).toLowerCase()}` }, o.verdict)),
        h("td", {}, (o.reasons || []).map((r) => h("span", { class: "why" }, sentence(r.message), " ", h("code", {}, r.code)))))));
    const more = Number(answer.offending_more || 0);
    $("offending-more").hidden = more === 0;
    $("offending-more").textContent = answer.listed === false
      ? `${plural(more, "pack")} offend; this token is not told which (the serials are named to a customs or regulator node's operator token).`
      : more ? `And ${plural(more, "more offending pack")} not listed: the counts above include them.` : "";

    showActions();
    $("consignment").hidden = false;
  }

  /** A pack's code: the single-pack verdict, said briefly (the scan page shows it in full). */
  function renderPack(answer) {
    const verdict = answer.verdict;
    setVerdict(verdict.toLowerCase(), verdict, `One pack: ${sentence((answer.reasons[0] || {}).message || "")}`);
    $("consignment-summary").textContent = `Pack ${answer.gtin} / ${answer.serial}` + (answer.product ? `: ${productName(answer.product)}` : "") + ".";
    $("counts").replaceChildren();
    $("reasons-block").hidden = true;
    $("consignment-findings").replaceChildren();
    $("declaration-block").hidden = true;
    $("offending-block").hidden = true;
    $("products-body").replaceChildren(h("tr", {},
      h("td", {}, answer.product ? productName(answer.product) : "No registered product"),
      h("td", { class: "mono nowrap" }, answer.gtin), h("td", { class: "num" }, "1")));
    reference = null;
    showActions();
    $("consignment").hidden = false;
  }

  /* -- decisions ------------------------------------------------------------------------- */

  function showActions() {
    $("act-block").hidden = !reference;
    $("act-reference").textContent = reference || "";
    say("act-state", "", true);
  }

  async function record(path, body, done) {
    if (busy || !reference) return;
    if (needToken()) return;
    busy = true;
    $("act-block").classList.add("act--busy");
    try {
      const answer = await api(`/api/v1/declarations/${encodeURIComponent(reference)}/${path}`, {
        method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body),
      });
      const entry = answer && answer.entry ? (answer.entry.id || answer.entry) : "";
      say("act-state", `${done}${entry ? `: signed as entry ${shortId(entry)}` : ""}.`, true);
    } catch (err) {
      say("act-state", `Not recorded: ${problemLine(err)}`, false);
    } finally {
      busy = false;
      $("act-block").classList.remove("act--busy");
    }
  }

  function initActions() {
    document.querySelectorAll("[data-decision]").forEach((button) => {
      button.addEventListener("click", () => {
        const decision = button.dataset.decision;
        const note = $("decision-note").value.trim();
        record("decision", note ? { decision, note } : { decision },
          `Recorded: declaration ${reference} ${DECIDED[decision]}`);
      });
    });
    $("outcome-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const outcome = $("outcome-select").value;
      const findings = $("outcome-findings").value.trim();
      record("inspection", findings ? { outcome, findings } : { outcome },
        `Recorded: inspection of ${reference} ${OUTCOMES[outcome]}`);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initDeclare();
    $("check-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("check-input").value;
      if (!value.trim()) {
        $("check-input").focus();
        return;
      }
      checkConsignment(value);
    });
    initActions();
  });
})();
