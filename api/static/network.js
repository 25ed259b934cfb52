/* The network page: GET /api/v1/network, every peer of this node, reachable or not, with its
   lag against us, the last contact, frozen feeds, forks and whether its digest equals ours. */
"use strict";

(() => {
  const { h, formatTs, api, explain } = Medtrace;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 15_000;
  let timer = null;

  function short(digest) {
    return digest ? String(digest).slice(0, 16) + "…" : "—";
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function fact(name, value, mono) {
    return [h("dt", {}, name), h("dd", { class: mono ? "mono" : null }, value)];
  }

  function digestCell(peer) {
    if (peer.digest_agrees === null) return h("span", { class: "state state--unknown" }, "unknown");
    return h("span", {},
      h("span", { class: `state state--${peer.digest_agrees ? "agree" : "differ"}` },
        peer.digest_agrees ? "agrees" : "differs"),
      " ", h("code", { title: peer.digest || "" }, short(peer.digest)));
  }

  function feedsCell(peer) {
    if (!peer.feeds.length) return "—";
    const lagging = peer.feeds.filter((f) => f.behind || f.ahead || f.same_head === false);
    return h("details", { class: "feeds-detail" },
      h("summary", {}, `${plural(peer.feeds.length, "feed")}, ${lagging.length} differ`),
      h("table", {},
        h("thead", {}, h("tr", {}, ...["Feed", "Ours", "Theirs", "Behind", "Ahead"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, peer.feeds.map((f) =>
          h("tr", { "data-feed": f.feed },
            h("td", { class: "mono" }, f.feed + (f.frozen_at === null ? "" : ` (frozen at #${f.frozen_at})`)),
            h("td", { class: "num" }, String(f.ours)),
            h("td", { class: "num" }, String(f.theirs)),
            h("td", { class: "num" }, String(f.behind)),
            h("td", { class: "num" }, String(f.ahead)))))));
  }

  function peerRow(peer) {
    const frozen = peer.frozen_feeds.length ? peer.frozen_feeds.join(", ") : "none";
    return h("tr", { "data-peer": peer.name, class: peer.reachable ? "peer--up" : "peer--down" },
      h("td", {}, h("strong", {}, peer.name), h("br"), h("span", { class: "mono" }, peer.url)),
      h("td", {},
        h("span", { class: `state state--${peer.reachable ? "up" : "down"}` }, peer.reachable ? "reachable" : "unreachable"),
        peer.error ? h("span", { class: "peer-error" }, peer.error) : null),
      h("td", { class: "num" }, peer.behind === null ? "—" : String(peer.behind)),
      h("td", { class: "num" }, peer.ahead === null ? "—" : String(peer.ahead)),
      h("td", {}, peer.last_contact ? h("time", { datetime: peer.last_contact }, formatTs(peer.last_contact)) : "never"),
      h("td", {}, digestCell(peer)),
      h("td", {}, peer.reachable ? `${frozen} · ${plural(peer.forks || 0, "fork")}` : "—"),
      h("td", {}, feedsCell(peer)));
  }

  function render(data) {
    const a = data.agreement;
    const down = a.peers - a.reachable;
    $("network-summary").textContent = a.peers === 0
      ? "This node has no peers."
      : `${plural(a.peers, "peer")}: ${a.reachable} reachable, ${down} unreachable; ` +
        `${a.agreeing} of ${a.peers} hold exactly our ledger (same digest).`;
    const age = data.newest_cosigned_checkpoint_age_s;
    $("network-facts").replaceChildren(
      ...fact("Node", `${data.node} (${data.feed})`),
      ...fact("Our digest", h("code", { title: data.digest }, short(data.digest))),
      ...fact("Entries held", String(data.entries)),
      ...fact("Feeds held", String(data.feeds.length)),
      ...fact("Frozen feeds here", data.frozen_feeds.length ? data.frozen_feeds.join(", ") : "none"),
      ...fact("Newest cosigned checkpoint", age === null ? "—" : `${Math.round(age)} s old`),
      ...fact("Asked at", h("time", { datetime: data.at }, formatTs(data.at))),
    );
    $("network-facts").hidden = false;
    $("peers-body").replaceChildren(...data.peers.map(peerRow));
    $("peers-card").hidden = data.peers.length === 0;
    $("forks").replaceChildren(...data.forks.map((f) =>
      h("li", {}, h("span", { class: "mono" }, f.feed), ` at #${f.seq}: `,
        ...f.entries.map((id, i) => [i ? " and " : "", h("code", { title: id }, id.slice(0, 12) + "…")]))));
    $("forks-card").hidden = data.forks.length === 0;
  }

  async function load() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!Medtrace.token()) {
      $("network-summary").textContent = "Enter a token to see the network.";
      $("network-facts").hidden = true;
      $("peers-card").hidden = true;
      $("forks-card").hidden = true;
      return;
    }
    $("network-summary").textContent = "Asking the peers…";
    try {
      render(await api("/api/v1/network"));
      timer = setTimeout(load, REFRESH_MS);
    } catch (err) {
      if (err instanceof Medtrace.ApiError && (err.status === 401 || err.status === 403)) {
        Medtrace.refuseToken(err);  /* never left shown as in use */
      }
      $("network-summary").textContent = explain(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("network-refresh").addEventListener("click", load);
    Medtrace.onToken(load);
    load();
  });
})();
