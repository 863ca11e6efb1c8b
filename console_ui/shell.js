// What every screen shares around its own content: the login guard, the header (user,
// language switch, WIB clock, logout), the offline banner and the wiring of the stream.

import { clearSession, getSession, homeFor } from "./api.js";
import { applyI18n, fmtClock, getLang, onLangChange, setLang, t } from "./i18n.js";
import { h } from "./dom.js";
import { Stream } from "./stream.js";

/** Returns the session, or sends the user to login / their own screen and returns null. */
export function guard(roles) {
  const session = getSession();
  if (!session?.token) {
    location.replace("/");
    return null;
  }
  if (!roles.includes(session.role)) {
    location.replace(homeFor(session.role));
    return null;
  }
  return session;
}

export function setupHeader(session) {
  const logout = () => {
    clearSession();
    location.assign("/");
  };
  const clock = h("span", { class: "clock mono", id: "clock" });
  document.getElementById("session-controls").replaceChildren(
    clock,
    h("span", { id: "user-name" }, session.agency ? `${session.username} · ${session.agency}` : session.username),
    h("div", { class: "lang-switch", role: "group", "aria-label": "Bahasa / Language" },
      h("button", { type: "button", "data-lang": "id" }, "ID"),
      h("button", { type: "button", "data-lang": "en" }, "EN")),
    h("button", { type: "button", id: "logout", "data-i18n": "logout", onclick: logout }),
  );
  setupLangSwitch();
  const tick = () => (clock.textContent = fmtClock(new Date()));
  tick();
  setInterval(tick, 1000);
  applyI18n(document);
  onLangChange(() => applyI18n(document));
}

export function setupLangSwitch() {
  const buttons = document.querySelectorAll(".lang-switch button");
  const mark = () => buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === getLang())));
  buttons.forEach((b) => b.addEventListener("click", () => setLang(b.dataset.lang)));
  mark();
  onLangChange(mark);
}

/** Start the one stream of this page; the offline banner follows its state. */
export function connectStream({ after, onEvent }) {
  const banner = document.getElementById("offline-banner");
  let retryAt = 0;
  let timer = null;
  const show = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    banner.textContent = t("offline.banner", { s: seconds });
  };
  const stream = new Stream({
    after,
    onEvent,
    onState: ({ online, retryInMs }) => {
      clearInterval(timer);
      banner.hidden = online;
      if (online) return;
      retryAt = Date.now() + retryInMs;
      show();
      timer = setInterval(show, 500);
    },
  });
  stream.start();
  return stream;
}

/** Announce a short message to screen readers and sighted users alike. */
export function announce(text, kind = "info") {
  const region = document.getElementById("announcer");
  region.className = `notice ${kind}`;
  region.hidden = false;
  region.textContent = text;
}

/** Show an API error in the announcer, with the field-level reasons when the server gave them. */
export function announceError(error) {
  const fields = Object.entries(error.fields ?? {}).map(([k, v]) => `${k}: ${v}`);
  announce([error.message, ...fields].join(" — "), "error");
}
