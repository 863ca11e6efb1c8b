// Login page: exchange username/password for a token, keep it for this tab, go to the
// screen of the user's role.

import { api, ApiError, getSession, homeFor, saveSession } from "./api.js";
import { applyI18n, onLangChange, t } from "./i18n.js";
import { setupLangSwitch } from "./shell.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

applyI18n(document);
onLangChange(() => applyI18n(document));
setupLangSwitch();

const existing = getSession();
if (existing?.token) location.replace(homeFor(existing.role));

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.hidden = true;
  try {
    const session = await api("/login", {
      method: "POST",
      body: { username: form.username.value.trim(), password: form.password.value },
    });
    saveSession(session);
    location.assign(homeFor(session.role));
  } catch (err) {
    error.textContent = err instanceof ApiError && err.status === 401 ? t("login.failed") : err.message;
    error.hidden = false;
    form.password.select();
  }
});
