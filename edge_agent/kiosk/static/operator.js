// The clerk's panel: starts a verification (photo upload or ID reader), follows its state and the carrier's
// acknowledgement, and shows the device's health. Never shows a photo or a camera frame.
"use strict";
(function () {
  const K = window.Kiosk;
  const $ = (id) => document.getElementById(id);
  let lastStatus = {}, lastHealth = null, offlineSince = null;

  function newTxn() {
    const d = new Date(), pad = (n) => String(n).padStart(2, "0");
    const rand = Math.random().toString(36).slice(2, 7);
    return "txn-" + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + "-" + pad(d.getHours()) +
      pad(d.getMinutes()) + pad(d.getSeconds()) + "-" + rand;
  }

  function text(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "–" : String(value); }
  function keyed(id, key) { const el = $(id); if (key) { el.dataset.i18n = key; el.textContent = K.t(key); } else { delete el.dataset.i18n; el.textContent = "–"; } }

  // The headline a clerk reads first: while running the state, once finished the outcome in its colour (pass
  // green, fail red, inconclusive amber; kiosk/outcome.py decides which), never a green "finished" over a fail.
  function renderStatus(s) {
    lastStatus = s;
    const outcome = s.state === "finished" ? (s.outcome || (s.decision === "pass" ? "pass" : "fail")) : null;
    keyed("state", outcome ? "operator.outcome." + outcome : "operator.state." + (s.state || "idle"));
    $("state").className = "state " + (outcome ? "outcome-" + outcome : (s.state || "idle"));
    $("state-card").dataset.outcome = outcome || "";
    text("s-txn", s.txn);
    keyed("s-decision", outcome ? (outcome === "inconclusive" ? "operator.decision.inconclusive"
      : "operator.decision." + s.decision) : null);
    $("s-decision").className = outcome ? "outcome-" + outcome : "";
    renderReasons(s.reason_codes || []);
    const c = s.carrier || {};
    keyed("s-carrier", c.state && c.state !== "unknown" ? "operator.carrier." + c.state : null);
    $("s-carrier").className = c.state ? "carrier-" + c.state : "";
    text("s-receipt", c.receipt_id);
    text("s-carrier-error", c.last_error);
    renderError(s.error);
    updateButtons();
  }

  // Each reason in the clerk's language, its code beside it for a call to support; an unknown code as itself.
  function renderReasons(codes) {
    const list = $("s-reasons");
    list.replaceChildren();
    if (!codes.length) { list.textContent = "–"; return; }
    for (const code of codes) {
      const li = document.createElement("li"), label = document.createElement("span");
      const raw = document.createElement("code");
      const key = "reason." + code, known = K.t(key) !== key;
      if (known) { label.dataset.i18n = key; label.textContent = K.t(key); }
      raw.textContent = code;
      li.dataset.code = code;
      li.append(label, known ? " " : "", raw);
      list.append(li);
    }
  }

  // An interrupted session's error: "code: English detail" from the agent, shown translated by its code.
  function renderError(error) {
    const el = $("s-error");
    if (!error) { text("s-error", null); return; }
    const code = String(error).split(":", 1)[0].trim(), key = "operator.error." + code;
    if (K.t(key) !== key) { el.dataset.i18n = key; el.textContent = K.t(key); el.title = error; }
    else { delete el.dataset.i18n; el.textContent = error; }
  }

  function updateButtons() {
    const running = lastStatus.state === "running";
    const offline = offlineSince !== null;
    $("start").disabled = running || offline;
    $("cancel").disabled = !running;
    $("start-blocked").hidden = !offline;
  }

  function area(list) { return list && list.length ? list.join("; ") : K.t("operator.ok"); }

  function clearHealth() {
    for (const id of ["h-device", "h-models", "h-camera", "h-keys", "h-backlog", "h-contact", "h-problems"]) {
      keyed(id, null);
    }
  }

  // Not reachable (the agent, or this kiosk itself): a translated offline state, Start disabled, and the poll
  // goes on, so the panel comes back by itself when the service does.
  function renderOffline(key, code) {
    if (offlineSince === null) offlineSince = Date.now();
    keyed("health", key);
    $("health").className = "state error";
    $("health-card").dataset.state = "offline";
    $("health-detail").hidden = false;
    $("health-detail").textContent = K.t("operator.agent_offline_detail") + " " +
      K.t("operator.retrying", { time: new Date().toLocaleTimeString(K.lang) });
    clearHealth();
    text("h-problems", code || null);
    updateButtons();
  }

  function renderHealth(h) {
    lastHealth = h;
    if (!h.reachable) { renderOffline("operator.agent_offline", h.error); return; }
    offlineSince = null;
    $("health-card").dataset.state = h.healthy ? "healthy" : "unhealthy";
    $("health-detail").hidden = true;
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
    updateButtons();
  }

  async function poll(url, render, every, lost) {
    try { render(await K.getJSON(url)); } catch (e) { if (lost) lost(); } // the kiosk restarted: try again
    setTimeout(() => poll(url, render, every, lost), every);
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
    if (!r.ok) {
      const e = await r.json(), key = "operator.error." + e.error;
      $("form-error").textContent = K.t(key) !== key ? K.t(key) : e.error + ": " + e.message;
      return;
    }
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
    poll("/api/health", renderHealth, 3000, () => renderOffline("operator.kiosk_offline", null));
    document.body.dataset.ready = "1";
  }

  main();
})();
