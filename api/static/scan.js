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

  let previewUrl = null;
  let busy = false;

  function context() {
    const checked = document.querySelector('input[name="context"]:checked');
    return checked ? checked.value : "counter";
  }

  function setVerdict(kind, word, sub) {
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
  }

  function fact(name, value, mono) {
    if (value === null || value === undefined || value === "") return [];
    return [h("dt", {}, name), h("dd", { class: mono ? "mono" : null }, String(value))];
  }

  function renderResult(result) {
    const decision = result.verdict;
    const phrase = (PHRASES[result.context] || PHRASES.counter)[decision] || "";
    setVerdict(decision.toLowerCase(), decision, phrase);
    const box = $("verdict");
    box.setAttribute("aria-label", `${decision}. ${phrase}`);

    const reasons = $("reasons");
    reasons.replaceChildren(
      ...result.reasons.map((r) =>
        h("li", { class: `reason reason--${decision.toLowerCase()}` },
          h("span", { class: "reason__text" }, sentence(r.message)),
          h("code", { class: "reason__code" }, r.code)))
    );

    const status = result.status ? (STATUS_LABELS[result.status] || result.status) : "unknown to the ledger";
    const symbology = SYMBOLOGIES[result.scan.symbology] || result.scan.symbology;
    const read = [symbology, result.scan.decoder && `read by ${result.scan.decoder}`]
      .filter(Boolean).join(", ");
    $("pack").replaceChildren(
      ...fact("GTIN", result.gtin, true),
      ...fact("Serial", result.serial, true),
      ...fact("Lot (printed)", result.lot, true),
      ...fact("Expiry (printed)", result.expiry),
      ...fact("Status", status),
      ...fact("Custodian", result.custodian, true),
      ...fact("Read as", read),
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
              h("strong", {}, kindLabel(t.kind)), " by ", h("span", { class: "mono" }, t.feed)),
            h("p", { class: "timeline__meta" },
              h("time", { datetime: t.ts }, formatTs(t.ts)),
              " · entry ", h("code", { title: t.entry }, shortId(t.entry))))))
    );
    $("details").hidden = false;
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
      setVerdict("error", "Not checked", explain(err));
      Medtrace.editToken();
      return;
    }
    setVerdict("error", "Not checked", explain(err));
  }

  /** Ask the node; false when the token needs attention (the token field has the focus). */
  async function verify(body) {
    if (busy) return false;
    if (!Medtrace.token()) {
      hideDetails();
      setVerdict("error", "Not checked", "Enter an access token first (above).");
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

  document.addEventListener("DOMContentLoaded", () => {
    initUpload();
    initText();
    initCamera();
  });
})();
