// Catalogue texts for both pages: elements carry data-i18n keys, the texts come from /i18n/<lang>.json.
"use strict";
window.Kiosk = (function () {
  const cache = {};
  let texts = {};
  let lang = "zh-CN";
  let config = null;

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function t(key, vars) {
    let s = texts[key];
    if (s === undefined) return key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function apply(root) {
    for (const el of (root || document).querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    document.documentElement.lang = lang;
    document.title = t(document.body.classList.contains("operator") ? "operator.title" : "customer.title");
  }

  async function setLang(next) {
    if (!cache[next]) cache[next] = await getJSON("/i18n/" + encodeURIComponent(next) + ".json");
    lang = next;
    texts = cache[next];
    apply();
  }

  async function init() {
    config = await getJSON("/config.json");
    const asked = new URLSearchParams(location.search).get("lang");
    await setLang(config.languages.includes(asked) ? asked : config.lang);
    return config;
  }

  function other() {
    const langs = config.languages;
    return langs[(langs.indexOf(lang) + 1) % langs.length];
  }

  return { init, t, apply, setLang, other, getJSON, get lang() { return lang; }, get config() { return config; } };
})();
