// The customer screen: follows the session's events (Server-Sent Events from the kiosk) and shows the prompt,
// its pictogram, the steps, the time left and only the outcome. Every text is a catalogue key.
"use strict";
(function () {
  const K = window.Kiosk;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const trace = (window.kioskTrace = []); // {seq, type, key, t_event, t_dom, t_frame}: the latency benchmark reads it
  let steps = 3, done = 0, current = -1, deadline = 0, timer = 0, hintTimer = 0, idleTimer = 0;
  let speechOn = true, defaultLang = "zh-CN", previewOn = true;

  function say(id, key) { // a catalogue text that follows a language switch
    const el = $(id);
    if (key) { el.dataset.i18n = key; el.textContent = K.t(key); } else { delete el.dataset.i18n; el.textContent = ""; }
  }

  function show(screen) {
    for (const id of ["welcome", "session", "result"]) $(id).hidden = id !== screen;
    document.body.classList.remove("state-welcome", "state-session", "state-result", "verified", "not-verified");
    document.body.classList.add("state-" + screen);
  }

  function renderSteps() {
    const ol = $("steps");
    ol.replaceChildren();
    for (let i = 0; i < steps; i++) {
      const li = document.createElement("li");
      li.className = i < done ? "done" : i === current ? "now" : "";
      li.textContent = String(i + 1);
      ol.appendChild(li);
    }
    ol.setAttribute("aria-label", K.t("customer.step", { step: Math.min(current + 1, steps), steps }));
  }

  function picto(action) {
    // SVG elements have no .hidden property: toggle the attribute itself
    for (const a of ["wait", "blink", "turn_left", "turn_right"]) $("picto-" + a).toggleAttribute("hidden", a !== action);
  }

  function guide(state) {
    $("oval").setAttribute("class", "guide-oval " + state);
  }

  function tick() {
    const left = Math.max(0, deadline - performance.now());
    const total = Number($("timebar").dataset.total || 1);
    $("timebar").style.width = (100 * left / total).toFixed(1) + "%";
    $("timeleft").textContent = deadline ? K.t("customer.time_left", { seconds: Math.ceil(left / 1000) }) : "";
    if (left <= 0) clearInterval(timer);
  }

  function startTimer(ms) {
    clearInterval(timer);
    if (!ms) { deadline = 0; $("timebar").style.width = "0"; $("timeleft").textContent = ""; return; }
    $("timebar").dataset.total = String(ms);
    deadline = performance.now() + ms;
    tick();
    timer = setInterval(tick, 200);
  }

  function speak(key) {
    if (!speechOn || !K.config.speech_available) return;
    const audio = $("voice");
    audio.src = "/speech/" + encodeURIComponent(K.lang) + "/" + encodeURIComponent(key) + ".wav";
    audio.play().catch(() => {});
  }

  function setPreview(on) {
    const img = $("preview");
    if (on && previewOn) {
      img.src = "/preview.mjpg?s=" + Date.now();
      document.body.classList.add("live");
    } else {
      img.removeAttribute("src");
      document.body.classList.remove("live");
    }
  }

  function idle() {
    setPreview(false);
    clearInterval(timer);
    show("welcome");
    if (K.lang !== defaultLang) K.setLang(defaultLang).then(updateSpeechLabel); // the next customer starts afresh
  }

  function handle(ev) {
    switch (ev.type) {
      case "idle":
        idle();
        break;
      case "start":
        clearTimeout(idleTimer);
        steps = 3; done = 0; current = -1;
        show("session");
        picto("wait");
        guide("ok");
        say("prompt", "customer.preparing");
        say("hint", "");
        startTimer(0);
        renderSteps();
        setPreview(true);
        speak("customer.preparing");
        break;
      case "prompt":
        show("session");
        if (!document.body.classList.contains("live")) setPreview(true); // the page joined mid-session
        steps = ev.steps; current = ev.step; done = ev.step;
        picto(ev.action);
        guide("ok");
        say("prompt", ev.key);
        say("hint", "");
        renderSteps();
        startTimer(ev.time_limit_ms);
        speak(ev.key);
        break;
      case "progress":
        done = Math.round(ev.fraction * steps); current = done;
        picto("wait");
        say("prompt", ev.key);
        renderSteps();
        startTimer(0);
        break;
      case "hint":
        say("hint", ev.key);
        guide(ev.key === "hint.no_face" ? "lost" : "warn");
        clearTimeout(hintTimer);
        hintTimer = setTimeout(() => { say("hint", ""); guide("ok"); }, 2500);
        break;
      case "result": {
        setPreview(false);
        clearInterval(timer);
        const ok = ev.outcome === "verified";
        show("result");
        $("picto-verified").toggleAttribute("hidden", !ok);
        $("picto-not_verified").toggleAttribute("hidden", ok);
        say("outcome", ok ? "result.verified" : ev.key);
        say("outcome-detail", ok ? "result.verified_detail" : "result.not_verified_detail");
        document.body.classList.add(ok ? "verified" : "not-verified");
        speak(ok ? "result.verified" : ev.key);
        clearTimeout(idleTimer);
        idleTimer = setTimeout(idle, 1000 * (ev.result_hold_s || 15));
        break;
      }
    }
  }

  function connect() {
    const source = new EventSource("/events");
    source.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      handle(ev);
      const t_dom = performance.timeOrigin + performance.now();
      const entry = { seq: ev.seq, type: ev.type, key: ev.key || null, t_event: ev.t_ms || null, t_dom, t_frame: null };
      trace.push(entry);
      if (trace.length > 500) trace.shift();
      requestAnimationFrame(() => { entry.t_frame = performance.timeOrigin + performance.now(); });
    };
  }

  function updateSpeechLabel() {
    const b = $("speech");
    b.hidden = !K.config.speech_available;
    b.setAttribute("aria-pressed", String(speechOn));
    b.firstElementChild.dataset.i18n = speechOn ? "customer.speech_on" : "customer.speech_off";
    b.firstElementChild.textContent = K.t(b.firstElementChild.dataset.i18n);
  }

  async function main() {
    const config = await K.init();
    defaultLang = K.lang;
    speechOn = config.speech && params.get("speech") !== "off";
    previewOn = config.preview && params.get("preview") !== "off";
    $("preview-off").hidden = previewOn;
    updateSpeechLabel();
    $("speech").addEventListener("click", () => { speechOn = !speechOn; updateSpeechLabel(); });
    $("lang").addEventListener("click", async () => {
      await K.setLang(K.other());
      updateSpeechLabel();
      renderSteps();
      tick();
    });
    renderSteps();
    connect();
    document.body.dataset.ready = "1";
  }

  main();
})();
