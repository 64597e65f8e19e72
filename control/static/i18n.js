// The pages' languages: English and French (strings.js). The language is the
// first of navigator.languages that we have, `?lang=en|fr` forces one;
// dates and numbers use Intl in that language.
//
//   t("key", {n: 3})        a string, {name} placeholders filled in
//   applyStatic(root)       fills elements marked data-i18n / data-i18n-title /
//                           data-i18n-placeholder / data-i18n-aria-label
import { STRINGS } from "./strings.js";

export const LANGS = Object.keys(STRINGS);

export function pickLanguage(search = location.search, languages = navigator.languages || [navigator.language || "en"]) {
  const forced = new URLSearchParams(search).get("lang");
  if (forced && LANGS.includes(forced.toLowerCase())) return forced.toLowerCase();
  for (const tag of languages) {
    const primary = String(tag || "").toLowerCase().split("-")[0];
    if (LANGS.includes(primary)) return primary;
  }
  return "en";
}

export const LANG = pickLanguage();
document.documentElement.lang = LANG;

export function t(key, vars = {}) {
  let s = STRINGS[LANG][key];
  if (s === undefined) s = STRINGS.en[key];
  if (s === undefined) { console.warn("callsfu: no string", key); return key; }
  if (typeof s === "function") return s(vars);
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [["title", "i18nTitle"], ["placeholder", "i18nPlaceholder"], ["aria-label", "i18nAriaLabel"]]) {
    for (const el of root.querySelectorAll(`[data-${attr === "aria-label" ? "i18n-aria-label" : "i18n-" + attr}]`)) {
      el.setAttribute(attr, t(el.dataset[data]));
    }
  }
}

/** A date (ISO string or Date) in the page's language, e.g. "2 mars 2027". */
export function formatDate(value, options = { dateStyle: "long" }) {
  const d = value instanceof Date ? value : new Date(value);
  return new Intl.DateTimeFormat(LANG, options).format(d);
}

export function formatDateTime(value) {
  return formatDate(value, { dateStyle: "long", timeStyle: "short" });
}
