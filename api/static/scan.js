/* The scan page: a photo, dropped or pasted image, the camera, or typed text goes to
   POST /api/v1/scan; the verdict is shown large, with reasons and the custody timeline. */
"use strict";

(() => {
  const { h, sentence, kindLabel, formatTs, shortId, api, explain, ApiError } = Medtrace;
  const SCAN = "/api/v1/scan";
  const $ = (id) => document.getElementById(id);

  const PHRASES = {
    counter: {
      RELEASE: "Authentic: may be supplied to the patient.",
      HOLD: "Do not supply yet: investigate first.",
      REJECT: "Must not be supplied.",
    },
    border: {
      RELEASE: "Authentic: may be released.",
      HOLD: "Keep the pack aside and investigate.",
      REJECT: "Detain the pack.",
    },
  };
  const STATUS_LABELS = { in_transit: "in transit", free_sample: "free sample" };
  const SYMBOLOGIES = {
    "]d2": "GS1 DataMatrix",
    "]Q3": "GS1 QR Code",
    "]C1": "GS1-128",
    "]e0": "GS1 DataBar",
    "]d1": "DataMatrix",
    "]Q1": "QR Code",
    dl: "GS1 Digital Link",
    text: "typed text",
  };

  /* What to do next, by reason code (HOLD and REJECT). */
  const QUARANTINE = "Quarantine the pack: put it aside, marked, away from stock that may be supplied.";
  const REPORT = "Report it to the regulator (national competent authority) as a suspected falsification, with the pack's code and this result.";
  const SUPPLIER = "Return it to the supplier that delivered it, under their instructions.";
  const RESCAN = "Rescan the code, or type it from the pack, to rule out a misread.";
  const STEPS = {
    unknown_pack: [RESCAN, "Still unknown: " + QUARANTINE.charAt(0).toLowerCase() + QUARANTINE.slice(1), REPORT],
    lot_mismatch: [RESCAN, QUARANTINE, REPORT],
    expiry_mismatch: [RESCAN, QUARANTINE, REPORT],
    recalled: [QUARANTINE, "Return it to the supplier under the recall notice.", "Do not supply or destroy it before the supplier says so."],
    withdrawn: [QUARANTINE, "Return it to the supplier: the product is withdrawn from the market."],
    expired: [QUARANTINE, SUPPLIER],
    already_dispensed: [QUARANTINE, REPORT],
    suspected_clone: [QUARANTINE, REPORT],
    duplicate_commission: [QUARANTINE, REPORT],
    stolen: [QUARANTINE, REPORT, "Tell the police if your procedure says so."],
    destroyed: [QUARANTINE, REPORT],
    exported: [QUARANTINE, REPORT],
    sample: [QUARANTINE, SUPPLIER],
    free_sample: [QUARANTINE, SUPPLIER],
    locked: [QUARANTINE, "Ask the supplier why the pack is locked; supply it only after it is unlocked and scans RELEASE."],
    quarantined: [QUARANTINE, "Ask the supplier or the customs office; supply it only after it scans RELEASE."],
    in_transit: ["Receive the delivery into your stock first (its shipment is not yet received), then scan again.", "Not expected: " + QUARANTINE.charAt(0).toLowerCase() + QUARANTINE.slice(1)],
    custody_violation: [QUARANTINE, "Ask the supplier how the pack reached you.", "Not explained: " + REPORT.charAt(0).toLowerCase() + REPORT.slice(1)],
    fork: [QUARANTINE, REPORT],
    forged: [QUARANTINE, REPORT],
    forged_membership: [QUARANTINE, REPORT],
    broken_chain: [QUARANTINE, REPORT],
    altered: [QUARANTINE, REPORT],
  };
  const DEFAULT_STEPS = {
    HOLD: [QUARANTINE, "Ask the supplier; supply it only after it scans RELEASE.", RESCAN],
    REJECT: [QUARANTINE, REPORT, SUPPLIER],
  };

  /* At the border the pack is detained, and the importer is told instead of the supplier. */
  const DETAIN = "Detain the pack: keep it under customs control, apart from the goods released.";
  const IMPORTER = "Tell the importer (the consignee) why the pack is detained.";

  function atBorder(step) {
    if (step === QUARANTINE) return DETAIN;
    return /supplier/i.test(step) ? IMPORTER : step.replace(QUARANTINE.charAt(0).toLowerCase() + QUARANTINE.slice(1), DETAIN.charAt(0).toLowerCase() + DETAIN.slice(1));
  }

  function nextSteps(decision, reasons, where) {
    if (decision !== "HOLD" && decision !== "REJECT") return [];
    const steps = [];
    for (const r of reasons.length ? reasons : [{ code: "" }]) {
      for (const each of STEPS[r.code] || DEFAULT_STEPS[decision]) {
        const step = where === "border" ? atBorder(each) : each;
        if (!steps.includes(step)) steps.push(step);
      }
    }
    return steps;
  }

  let previewUrl = null;
  let busy = false;
  /* The body the verdict shown was asked with (asked again after an undo), and that verdict. */
  let lastBody = null;
  let shown = null;
  /* What the last dispense or undo of the pack shown came to: {pack, ok, text}. */
  let outcome = null;
  let acting = false;
  /* The verdict says a token is needed: it goes once a good token is set. */
  let needsToken = false;

  function context() {
    const checked = document.querySelector('input[name="context"]:checked');
    return checked ? checked.value : "counter";
  }

  function setVerdict(kind, word, sub) {
    needsToken = false;
    const box = $("verdict");
    box.className = `verdict verdict--${kind}`;
    box.dataset.verdict = kind;
    $("verdict-word").textContent = word;
    $("verdict-sub").textContent = sub;
    if (kind !== "busy" && window.matchMedia("(max-width: 820px)").matches) {
      box.scrollIntoView({ block: "start", behavior: "smooth" });  /* one column: show it */
    }
  }

  function hideDetails() {
    $("details").hidden = true;
    $("product-line").hidden = true;
    $("dispense").hidden = true;
    shown = null;
  }

  function fact(name, value, mono) {
    if (value === null || value === undefined || value === "") return [];
    return [h("dt", {}, name), h("dd", { class: mono ? "mono" : null }, String(value))];
  }

  function renderResult(result) {
    const decision = result.verdict;
    const phrase = result.dispensedHere
      ? "Supplied to the patient: this pharmacy's feed signed the dispense."
      : (PHRASES[result.context] || PHRASES.counter)[decision] || "";
    setVerdict(decision.toLowerCase(), decision, phrase);
    const box = $("verdict");
    box.setAttribute("aria-label", `${decision}. ${phrase}`);

    const reasons = $("reasons");
    reasons.replaceChildren(
      ...result.reasons.map((r) =>
        h("li", { class: `reason reason--${decision.toLowerCase()}` },
          h("span", { class: "reason__text" }, sentence(r.message)),
          h("code", { class: "reason__code" }, r.code))),
      /* what did not change the verdict but the person scanning should know */
      ...(result.warnings || []).map((w) =>
        h("li", { class: "reason reason--warning" },
          h("span", { class: "reason__text" }, "Warning: ", sentence(w.message)),
          h("code", { class: "reason__code" }, w.code)))
    );

    const steps = nextSteps(decision, result.reasons, result.context);
    $("next-block").hidden = steps.length === 0;
    $("next-steps").replaceChildren(...steps.map((step) => h("li", {}, step)));

    const status = result.status ? (STATUS_LABELS[result.status] || result.status) : "unknown to the ledger";
    const symbology = SYMBOLOGIES[result.scan.symbology] || result.scan.symbology;
    const read = [symbology, result.scan.decoder && `read by ${result.scan.decoder}`]
      .filter(Boolean).join(", ");
    const product = result.product || null;
    $("pack").replaceChildren(
      ...(product ? [
        ...fact("Product", product.name),
        ...fact("Common name", product.commonName),
        ...fact("Strength", product.strength),
        ...fact("Form", product.form),
        ...fact("Pack size", packSize(product)),
        ...fact("Marketing authorisation holder", product.mah),
      ] : []),
      ...fact("GTIN", result.gtin, true),
      ...fact("Serial", result.serial, true),
      ...fact("Lot (printed)", result.lot, true),
      ...fact("Expiry (printed)", result.expiry),
      ...fact("Status", status),
      ...fact("Custodian", result.custodian, true),
      ...fact("Read as", read),
      /* a pack of another country's consortium: whose ledger answered, how fresh (ADR 0028) */
      ...fact("Answered by", result.answered_by
        ? `the ledger of ${result.ledger_country}: ${result.answered_by.consortium}` : ""),
      ...fact("Checkpoint", typeof result.checkpoint_age_s === "number"
        ? `cosigned ${result.checkpoint_age_s} s ago` : ""),
      ...(result.scan.notes || []).flatMap((note) => fact("Reader's note", sentence(note))),
    );

    /* alerts already given as a reason above are not repeated */
    const cited = new Set(result.reasons.map((r) => r.code));
    const alerts = (result.alerts || []).filter((a) => !cited.has(a.code));
    $("pack-alerts-block").hidden = alerts.length === 0;
    $("pack-alerts").replaceChildren(
      ...alerts.map((a) =>
        h("li", { class: `pack-alert pack-alert--${a.level}` },
          h("strong", {}, a.code.replace(/_/g, " ")), " — ", sentence(a.message)))
    );

    const timeline = $("timeline");
    $("timeline-empty").hidden = result.timeline.length > 0;
    timeline.replaceChildren(
      ...result.timeline.map((t) =>
        h("li", { class: `timeline__item timeline__item--${t.kind}` },
          h("span", { class: "timeline__dot", "aria-hidden": "true" }),
          h("div", { class: "timeline__body" },
            h("p", { class: "timeline__what" },
              h("strong", {}, stepLabel(t.kind)),
              t.detail ? h("span", { class: "timeline__detail" }, ": ", decisionText(t)) : null,
              " by ", h("span", { class: "mono" }, t.feed)),
            h("p", { class: "timeline__meta" },
              h("time", { datetime: t.ts }, formatTs(t.ts)),
              ` · #${t.seq}`,
              " · entry ", h("code", { title: t.entry }, shortId(t.entry))))))
    );
    $("details").hidden = false;
    renderProduct(result);
    shown = result;
    renderDispense(result);
  }

  /** "20 capsules per blister pack" style: the units and the pack type when registered. */
  function packSize(product) {
    if (!product.packSize) return "";
    return `${product.packSize}${product.packType ? " per " + product.packType : ""}`;
  }

  /** One line under the verdict naming what the code belongs to, to compare with the box. */
  function renderProduct(result) {
    const line = $("product-line");
    const product = result.product;
    line.classList.toggle("product-line--missing", !product);
    if (product) {
      const rest = [product.strength, product.form, packSize(product) && `pack of ${packSize(product)}`]
        .filter(Boolean).join(" · ");
      line.replaceChildren(h("strong", {}, product.name), rest ? h("span", {}, rest) : null);
      line.hidden = false;
    } else if ("product" in result) {
      line.replaceChildren(h("strong", {}, "No registered product"),
        h("span", {}, `GTIN ${result.gtin} has no product data: compare the box by its printed name.`));
      line.hidden = false;
    } else {
      line.hidden = true;
    }
  }

  /* Records that are no step of the pack (common.js names the steps). */
  const RECORD_LABELS = {
    product: "Product registered", declare: "Declared", check: "Failed check reported",
    decide: "Customs decision", outcome: "Inspection outcome",
  };

  function stepLabel(kind) {
    return RECORD_LABELS[kind] || kindLabel(kind);
  }

  /** A step's detail as the CLI gives it; an inspection's decision in capitals. */
  function decisionText(step) {
    const detail = String(step.detail || "");
    if (step.kind !== "inspect") return detail;
    const [decision, ...rest] = detail.split(" ");
    return [decision.toUpperCase(), ...rest].join(" ");
  }

  function renderProblem(err) {
    hideDetails();
    const box = $("verdict");
    box.removeAttribute("aria-label");
    const type = (err instanceof ApiError && err.problem.type) || "";
    if (type.endsWith(":scan-error")) {
      setVerdict("scan-error", "Scan error — rescan", sentence(err.problem.hint || err.problem.detail));
      return;
    }
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      Medtrace.refuseToken(err);  /* never left shown as in use */
      setVerdict("error", "Not checked", explain(err));
      needsToken = true;
      return;
    }
    setVerdict("error", "Not checked", explain(err));
  }

  /** Ask the node; false when the token needs attention (the token field has the focus).
      ``refresh``: asked again after this tab's dispense or undo, not a person's new scan. */
  async function verify(body, refresh) {
    if (busy) return false;
    lastBody = body;
    if (!refresh) outcome = null;
    if (!Medtrace.token()) {
      hideDetails();
      setVerdict("error", "Not checked", "Enter an access token first (above).");
      needsToken = true;
      Medtrace.editToken();
      return false;
    }
    busy = true;
    document.body.classList.add("is-busy");
    setVerdict("busy", "Checking…", "Reading the code and verifying the pack's signed history.");
    hideDetails();
    try {
      const options = body instanceof FormData
        ? { method: "POST", body }
        : { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
      renderResult(await api(SCAN, options));
    } catch (err) {
      renderProblem(err);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return false;
    } finally {
      busy = false;
      document.body.classList.remove("is-busy");
    }
    return true;
  }

  function verifyImage(blob, name) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(blob);
    const preview = $("preview");
    preview.src = previewUrl;
    preview.hidden = false;
    const form = new FormData();
    form.append("image", blob, name || "scan.png");
    form.append("context", context());
    return verify(form);
  }

  function initUpload() {
    const input = $("file-input");
    const drop = $("drop");
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (file) verifyImage(file, file.name);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach((name) =>
      drop.addEventListener(name, (event) => {
        event.preventDefault();
        drop.classList.add("drop--over");
      }));
    ["dragleave", "dragend"].forEach((name) =>
      drop.addEventListener(name, () => drop.classList.remove("drop--over")));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("drop--over");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) verifyImage(file, file.name);
    });
    document.addEventListener("paste", (event) => {
      const files = event.clipboardData ? Array.from(event.clipboardData.files) : [];
      const image = files.find((f) => f.type.startsWith("image/"));
      if (image) {
        event.preventDefault();
        verifyImage(image, image.name || "pasted.png");
      }
    });
  }

  function initText() {
    const form = $("text-form");
    const input = $("code-input");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) {
        input.focus();
        return;
      }
      $("preview").hidden = true;  /* the photo shown is not what is verified now */
      verify({ text, context: context() }).then((done) => {
        if (done) input.select();  /* the next wedge scan replaces it */
      });
    });
  }

  function initCamera() {
    const hasDetector = "BarcodeDetector" in window;
    const hasCamera = navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function";
    if (!hasDetector || !hasCamera) return;  /* the button stays hidden */
    $("camera").hidden = false;
    const video = $("camera-video");
    let stream = null;
    let timer = null;

    function stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      video.srcObject = null;
      $("camera-view").hidden = true;
      $("camera-start").hidden = false;
    }

    async function start() {
      let detector;
      try {
        const supported = await BarcodeDetector.getSupportedFormats();
        const formats = ["data_matrix", "qr_code"].filter((f) => supported.includes(f));
        if (!formats.length) throw new Error("no 2D formats");
        detector = new BarcodeDetector({ formats });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      } catch (e) {
        stop();
        setVerdict("error", "Camera unavailable", "Upload a photo or type the code instead.");
        return;
      }
      video.srcObject = stream;
      $("camera-view").hidden = false;
      $("camera-start").hidden = true;
      await video.play();
      const tick = async () => {
        if (!stream) return;
        try {
          const codes = await detector.detect(video);
          if (codes.length) {
            /* the server reads the frame itself: it knows GS1 separators the browser drops */
            const canvas = document.createElement("canvas");
            canvas.width = video.videoWidth;
            canvas.height = video.videoHeight;
            canvas.getContext("2d").drawImage(video, 0, 0);
            stop();
            canvas.toBlob((blob) => {
              if (blob) verifyImage(blob, "camera.png");
              else verify({ text: codes[0].rawValue, context: context() });
            }, "image/png");
            return;
          }
        } catch (e) {
          /* a frame that could not be analysed: try the next one */
        }
        timer = setTimeout(tick, 200);
      };
      tick();
    }

    $("camera-start").addEventListener("click", start);
    $("camera-stop").addEventListener("click", stop);
    window.addEventListener("pagehide", stop);
  }

  /* -- dispense and undo at the counter ------------------------------------------------------ */

  const DISPENSE = "/api/v1/actions/dispense";
  const UNDO = "/api/v1/actions/undo";
  const UNDO_WINDOW_MS = 10 * 24 * 3600 * 1000;  /* EU FMD: within 10 days, by the same feed */
  const NEEDS_OPERATOR = "needs an operator token of this pharmacy's node; a verifier token may only verify. Enter an operator token above (Change), then press the button again.";

  function ownFeed() {
    return $("dispense").dataset.feed || "";
  }

  /** The role of the token in use, as the node told it when the token was entered
      (common.js keeps it beside the token, in this tab only); "" when unknown. */
  function tokenRole() {
    try {
      const who = JSON.parse(sessionStorage.getItem("medtrace.token.who") || "null");
      return (who && who.role) || "";
    } catch (e) {
      return "";
    }
  }

  /** This feed's dispense of the pack that it may still undo: {entry, ts, until}, or null. */
  function undoable(result) {
    if (result.context !== "counter" || result.status !== "dispensed") return null;
    const last = [...result.timeline].reverse().find((t) => t.kind === "dispense" || t.kind === "undo");
    if (!last || last.kind !== "dispense" || last.feed !== ownFeed()) return null;
    const until = new Date(Date.parse(last.ts) + UNDO_WINDOW_MS);
    if (Number.isNaN(until.getTime()) || until.getTime() <= Date.now()) return null;
    return { entry: last.entry, ts: last.ts, until };
  }

  function renderDispense(result) {
    if (outcome && outcome.pack !== result.pack) outcome = null;
    const canDispense = result.context === "counter" && result.verdict === "RELEASE";
    const undo = undoable(result);
    $("dispense").hidden = !(canDispense || undo || outcome);
    $("dispense-button").hidden = !canDispense;
    $("undo-button").hidden = !undo;
    const state = $("dispense-state");
    let text = outcome ? outcome.text : "";
    if (undo) {
      const until = formatTs(undo.until.toISOString());
      text = outcome && outcome.ok
        ? `${text}; a mistake may be undone from this feed until ${until}.`
        : [text, `Dispensed by ${ownFeed()} on ${formatTs(undo.ts)}: it may be undone until ${until}.`].filter(Boolean).join(" ");
    }
    state.textContent = text;
    state.className = "dispense__state" + (outcome ? (outcome.ok ? " dispense__state--ok" : " dispense__state--refused") : "");
  }

  /** One line on why a dispense or undo was not recorded. */
  function notDone(what, err) {
    if (err instanceof ApiError && err.status === 401) {
      Medtrace.refuseToken(err);  /* never left shown as in use */
      return `Not ${what}: ${explain(err)}`;
    }
    if (err instanceof ApiError && err.status === 403) {
      /* the token still verifies: keep it, say which token writes */
      return `Not ${what}: ${what === "dispensed" ? "dispensing" : "an undo"} ${NEEDS_OPERATOR}`;
    }
    return `Not ${what}: ${explain(err)}`;
  }

  /** POST a dispense or undo of the pack shown, then ask for its verdict again. */
  async function act(what, path, body) {
    const result = shown;
    if (!result || acting || busy) return;
    if (tokenRole() === "verifier") {
      outcome = { pack: result.pack, ok: false, text: notDone(what, new ApiError(403, {})) };
      renderDispense(result);
      return;
    }
    acting = true;
    $("dispense").classList.add("dispense--busy");
    let answer = null;
    try {
      answer = await api(path, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    } catch (err) {
      outcome = { pack: result.pack, ok: false, text: notDone(what, err) };
      renderDispense(result);
      return;
    } finally {
      acting = false;
      $("dispense").classList.remove("dispense--busy");
    }
    const entry = shortId(answer.entry.id);
    if (what === "dispensed") {
      outcome = { pack: result.pack, ok: true, text: `Dispensed: ${ownFeed()} signed entry ${entry}` };
      await showDispensed(result, answer.entry);
    } else {
      outcome = { pack: result.pack, ok: true, text: `Undone: the dispense is reverted (entry ${entry}); the pack is back in stock.` };
      await verify(lastBody, true);  /* verified again: the pack is expected to pass */
    }
  }

  /** The pack as the node holds it after this tab's dispense. Not verified again: a
      verification of a dispensed pack is a failed check, an alert for the regulator. */
  async function showDispensed(result, wire) {
    let status = "dispensed";
    let custodian = result.custodian;
    try {
      const held = await api(`/api/v1/packs/${encodeURIComponent(result.gtin)}/${encodeURIComponent(result.serial)}`);
      status = held.status;
      custodian = held.custodian;
    } catch (err) {
      /* the dispense is stored (201): the status shown is what it made */
    }
    const step = stepOf(wire);
    renderResult(Object.assign({}, result, {
      verdict: "DISPENSED",
      dispensedHere: true,
      status,
      custodian,
      reasons: [{ code: "dispensed", message: `dispensed by ${ownFeed()} just now; the node holds the pack as ${STATUS_LABELS[status] || status}, and a later scan of it is REJECT (already dispensed)` }],
      timeline: step ? [...result.timeline, step] : result.timeline,
    }));
  }

  /** A timeline step from a signed entry's wire form (its payload decoded). */
  function stepOf(wire) {
    try {
      const bytes = Uint8Array.from(atob(wire.payload), (c) => c.charCodeAt(0));
      const payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      return { ts: payload.ts, feed: payload.feed, seq: payload.seq, kind: payload.kind, entry: wire.id, detail: "" };
    } catch (e) {
      return null;
    }
  }

  function initDispense() {
    $("dispense-button").addEventListener("click", () => {
      if (shown) act("dispensed", DISPENSE, { subjects: [shown.pack] });
    });
    $("undo-button").addEventListener("click", () => {
      const undo = shown && undoable(shown);
      if (undo) act("undone", UNDO, { subjects: [shown.pack], refs: [undo.entry] });
    });
  }

  /** A good token is set: a verdict that asked for one goes back to ready. */
  function tokenChanged(value) {
    if (!value || !needsToken) return;
    $("verdict").removeAttribute("aria-label");
    setVerdict("idle", "Ready", "Token accepted: scan the pack again.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    Medtrace.onToken(tokenChanged);
    initUpload();
    initText();
    initCamera();
    initDispense();
  });
})();
