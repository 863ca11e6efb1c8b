// Agency (OPD) screen: the dispatches of this agency only (the server scopes the data), an
// audible and visible alert until each new one is acknowledged, and big status buttons.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { fmtDistance, fmtDuration, fmtTime, onLangChange, t } from "./i18n.js";
import { createMap } from "./map.js";
import { agencyName, categoryName, LIVE, loadReference, placeLabel, STATUS_COLORS, statusLabel } from "./reference.js";
import { announce, announceError, connectStream, guard, setupHeader } from "./shell.js";
import { IncidentSet } from "./stream.js";

// Repeat the beep while anything is unacknowledged: one missed beep must not lose a dispatch.
const BEEP_REPEAT_MS = 15_000;

// Mirrors the server's state machine only to choose which buttons to enable; the server
// still decides (409 on an illegal change).
const NEXT = {
  dispatched: ["acknowledged", "declined"],
  acknowledged: ["en_route", "on_scene", "resolved"],
  en_route: ["on_scene", "resolved"],
  on_scene: ["resolved"],
};
const BUTTONS = ["acknowledged", "en_route", "on_scene", "resolved", "declined"];

const $ = (id) => document.getElementById(id);

const state = { agency: null, incidents: new IncidentSet(), map: null };
const audio = { context: null, timer: null };

function mine(incident) {
  return incident.assignments.find((a) => a.agency === state.agency);
}

/** Incidents where this agency still has work, newest dispatch first. */
function active() {
  return state.incidents.all()
    .filter((i) => LIVE.has(mine(i)?.status))
    .sort((a, b) => Date.parse(mine(b).dispatched_at) - Date.parse(mine(a).dispatched_at));
}

// --- sound ----------------------------------------------------------------------------

function audioContext() {
  audio.context ??= new AudioContext();
  return audio.context;
}

/** Two short tones; WebAudio needs no audio file. */
function beep() {
  const ctx = audioContext();
  if (ctx.state === "suspended") {
    // Browsers keep audio off until the user interacts with the page once.
    $("sound").hidden = false;
    return;
  }
  [880, 660].forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const start = ctx.currentTime + i * 0.25;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.25, start);
    gain.gain.exponentialRampToValueAtTime(0.001, start + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + 0.23);
  });
}

function enableSound() {
  audioContext().resume().then(() => {
    $("sound").hidden = true;
    if (unacknowledged().length) beep();
  });
}

// --- alert ----------------------------------------------------------------------------

function unacknowledged() {
  return active().filter((i) => mine(i).status === "dispatched");
}

function renderAlert() {
  const pending = unacknowledged();
  const box = $("dispatch-alert");
  box.hidden = !pending.length;
  if (pending.length) {
    box.textContent = `‼ ${t("opd.alert", { n: pending.length, list: pending.map((i) => `#${i.id} ${categoryName(i.category)}`).join(", ") })}`;
  }
  clearInterval(audio.timer);
  if (pending.length) audio.timer = setInterval(beep, BEEP_REPEAT_MS);
}

// --- cards ----------------------------------------------------------------------------

function renderCards() {
  const incidents = active();
  if (!incidents.length) return fill($("assignments"), h("p", { class: "panel empty" }, t("opd.none")));
  // Cards are rebuilt on every event: keep what the operator is typing and where focus is.
  const notes = new Map([...document.querySelectorAll("#assignments input")].map((i) => [i.id, i.value]));
  const focused = document.activeElement?.id;
  fill($("assignments"), incidents.map(card));
  for (const [id, value] of notes) if ($(id)) $(id).value = value;
  if (focused && $(focused)) $(focused).focus();
}

function card(incident) {
  const my = mine(incident);
  const noteId = `note-${incident.id}`;
  const phones = [...new Set(incident.calls.map((c) => c.phone).filter(Boolean))];
  const others = incident.assignments.filter((a) => a.agency !== state.agency && LIVE.has(a.status));
  const units = (incident.units ?? []).filter((u) => u.agency === state.agency);
  return h("article", {
    class: `panel dispatch-card ${my.status === "dispatched" ? "unacknowledged" : ""}`,
    dataset: { incidentId: incident.id },
    "aria-labelledby": `card-${incident.id}`,
  },
    h("header", {},
      h("h2", { id: `card-${incident.id}` }, `#${incident.id} ${categoryName(incident.category)}`),
      h("span", { class: `badge p${incident.priority}` }, `P${incident.priority}`),
      h("span", { class: `badge ${my.status === "dispatched" ? "alarm" : "ok"}`, "data-testid": "my-status" }, statusLabel(my.status))),
    h("dl", { class: "facts" },
      h("dt", {}, t("opd.place")), h("dd", {}, placeLabel(incident), h("div", { class: "muted mono" }, `${incident.location.lat.toFixed(5)}, ${incident.location.lon.toFixed(5)}`)),
      h("dt", {}, t("opd.role")), h("dd", {}, t(`role.${my.role}`)),
      h("dt", {}, t("opd.dispatched_at")), h("dd", {}, `${fmtTime(my.dispatched_at)} (${fmtDuration((Date.now() - Date.parse(my.dispatched_at)) / 1000)})`),
      incident.description ? [h("dt", {}, t("opd.description")), h("dd", {}, incident.description)] : null,
      // The server removes callers' numbers for support agencies; show them only if present.
      phones.length ? [h("dt", {}, t("opd.caller")), h("dd", { class: "mono" }, phones.join(", "))] : null,
      units.length ? [h("dt", {}, t("opd.units")), h("dd", {}, units.map((u) => `${u.unit_id} (${fmtDistance(u.distance_m)}, ETA ${fmtDuration(u.eta_s)})`).join("; "))] : null,
      others.length ? [h("dt", {}, t("opd.others")), h("dd", {}, others.map((a) => `${a.agency} ${statusLabel(a.status)}`).join(" · "))] : null),
    h("div", {}, h("label", { for: noteId }, t("opd.note")), h("input", { id: noteId, autocomplete: "off" })),
    h("div", { class: "status-buttons", role: "group", "aria-label": t("opd.update") },
      BUTTONS.map((status) => {
        const allowed = NEXT[my.status]?.includes(status);
        const next = allowed && NEXT[my.status][0] === status;
        return h("button", {
          type: "button",
          class: status === "declined" ? "danger" : next ? "next" : "",
          disabled: !allowed,
          dataset: { status },
          onclick: () => update(incident.id, status, $(noteId).value.trim()),
        }, t(`opd.action.${status}`));
      })),
  );
}

async function update(id, status, note) {
  // A decline re-routes the incident, so the server wants the reason; ask before sending.
  if (status === "declined" && !note) {
    announce(t("opd.decline_needs_note"), "error");
    $(`note-${id}`)?.focus();
    return;
  }
  try {
    const incident = await api(`/incidents/${id}/status`, { method: "POST", body: { status, ...(note ? { note } : {}) } });
    if (incident?.id) state.incidents.upsert(incident);
    announce(t("opd.updated", { id, status: t(`status.${status}`) }), "success");
    renderAll();
  } catch (err) {
    announceError(err);
  }
}

function renderMap() {
  state.map?.showIncidents(active().map((i) => ({
    id: i.id,
    lat: i.location.lat,
    lon: i.location.lon,
    color: STATUS_COLORS[mine(i).status] ?? "#94a3b8",
    label: `#${i.id} ${statusLabel(mine(i).status)}`,
  })));
}

function renderAll() {
  renderCards();
  renderAlert();
  renderMap();
}

// --- stream ---------------------------------------------------------------------------

function onEvent(event) {
  const before = mine(state.incidents.get(event.incident_id) ?? { assignments: [] })?.status;
  if (state.incidents.apply(event) === null) return;
  const incident = state.incidents.get(event.incident_id);
  const now = incident && mine(incident)?.status;
  // A beep for each dispatch that is new to this agency (a new incident or an added agency).
  if (now === "dispatched" && before !== "dispatched") beep();
  renderAll();
}

// --- start ----------------------------------------------------------------------------

async function main(session) {
  state.agency = session.agency;
  setupHeader(session);
  await loadReference();
  const name = () => ($("agency-name").textContent = agencyName(state.agency));
  name();
  const { incidents, last_seq: lastSeq } = await api("/incidents?status=open");
  state.incidents = new IncidentSet(incidents);
  renderAll();
  if (unacknowledged().length) beep();
  $("sound").addEventListener("click", enableSound);
  onLangChange(() => {
    name();
    renderAll();
  });
  connectStream({ after: lastSeq, onEvent });
  state.map = await createMap($("map"));
  renderMap();
}

const session = guard(["agency"]);
if (session) await main(session);
