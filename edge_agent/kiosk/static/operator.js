// The clerk's panel: starts a verification (photo upload or ID reader), follows its state and the carrier's
// acknowledgement, and shows the device's health. Never shows a photo or a camera frame.
"use strict";
(function () {
  const K = window.Kiosk;
  const $ = (id) => document.getElementById(id);
  let lastStatus = {}, lastHealth = null;

  function newTxn() {
    const d = new Date(), pad = (n) => String(n).padStart(2, "0");
    const rand = Math.random().toString(36).slice(2, 7);
    return "txn-" + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + "-" + pad(d.getHours()) +
      pad(d.getMinutes()) + pad(d.getSeconds()) + "-" + rand;
  }

  function text(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "–" : String(value); }
  function keyed(id, key) { const el = $(id); if (key) { el.dataset.i18n = key; el.textContent = K.t(key); } else { delete el.dataset.i18n; el.textContent = "–"; } }

  function renderStatus(s) {
    lastStatus = s;
    keyed("state", "operator.state." + (s.state || "idle"));
    $("state").className = "state " + (s.state || "idle");
    text("s-txn", s.txn);
    keyed("s-decision", s.decision ? "operator.decision." + s.decision : null);
    text("s-reasons", (s.reason_codes || []).join(", "));
    const c = s.carrier || {};
    keyed("s-carrier", c.state && c.state !== "unknown" ? "operator.carrier." + c.state : null);
    $("s-carrier").className = c.state ? "carrier-" + c.state : "";
    text("s-receipt", c.receipt_id);
    text("s-carrier-error", c.last_error);
    text("s-error", s.error);
    const running = s.state === "running";
    $("start").disabled = running;
    $("cancel").disabled = !running;
  }

  function area(list) { return list && list.length ? list.join("; ") : K.t("operator.ok"); }

  function renderHealth(h) {
    lastHealth = h;
    if (!h.reachable) {
      keyed("health", "operator.agent_unreachable");
      $("health").className = "state error";
      text("h-problems", h.message);
      return;
    }
    keyed("health", h.healthy ? "operator.healthy" : "operator.unhealthy");
    $("health").className = "state " + (h.healthy ? "finished" : "error");
    text("h-device", h.device_id);
    text("h-models", (h.model_set || "–") + (h.areas.models.length ? " — " + h.areas.models.join("; ") : ""));
    text("h-camera", (h.camera_source || "–") + " — " + area(h.areas.camera));
    text("h-keys", area(h.areas.keys));
    text("h-backlog", h.outbox_backlog + (h.areas.outbox.length ? " — " + h.areas.outbox.join("; ") : ""));
    if (h.last_carrier_ack_ms) text("h-contact", new Date(h.last_carrier_ack_ms).toLocaleString(K.lang));
    else keyed("h-contact", "operator.never");
    text("h-problems", h.areas.other.join("; "));
  }

  async function poll(url, render, every) {
    try { render(await K.getJSON(url)); } catch (e) { /* the kiosk restarted: try again */ }
    setTimeout(() => poll(url, render, every), every);
  }

  async function start(ev) {
    ev.preventDefault();
    keyed("form-error", null); $("form-error").textContent = "";
    const source = document.querySelector("input[name=source]:checked").value;
    const file = $("photo").files[0];
    if (source === "upload" && !file) { keyed("form-error", "operator.no_photo"); return; }
    const url = "/api/start?txn=" + encodeURIComponent($("txn").value) + "&source=" + source;
    const body = source === "upload" ? await file.arrayBuffer() : null;
    $("photo").value = ""; // the reference photo is not kept on the page
    const r = await fetch(url, { method: "POST", body, headers: { "X-Kiosk": "1", "Content-Type": "application/octet-stream" } });
    if (!r.ok) { const e = await r.json(); $("form-error").textContent = e.error + ": " + e.message; return; }
    $("txn").value = newTxn();
    renderStatus(await K.getJSON("/api/status"));
  }

  async function main() {
    const config = await K.init();
    $("source-reader").hidden = !config.id_reader;
    $("txn").value = newTxn();
    $("start-form").addEventListener("submit", start);
    $("cancel").addEventListener("click", () => fetch("/api/cancel", { method: "POST", headers: { "X-Kiosk": "1" } }));
    $("lang").addEventListener("click", async () => {
      await K.setLang(K.other());
      renderStatus(lastStatus);
      if (lastHealth) renderHealth(lastHealth);
    });
    poll("/api/status", renderStatus, 500);
    poll("/api/health", renderHealth, 3000);
    document.body.dataset.ready = "1";
  }

  main();
})();
