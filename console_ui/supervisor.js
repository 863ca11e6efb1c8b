// Supervisor board: every open incident with live age timers, alarms for dispatches nobody
// acknowledged, agency load, a map, the override actions, and KPIs against targets.
// All state comes from the list call plus the stream; actions go to the API and come back
// to the board through the stream like everyone else's changes.

import { api, query } from "./api.js";
import { targetChart, stackedBars } from "./charts.js";
import { fill, h } from "./dom.js";
import { fmtDuration, fmtTime, getLang, onLangChange, t } from "./i18n.js";
import { createMap } from "./map.js";
import { agencyName, categoryName, LIVE, loadReference, placeLabel, ref, STATUS_COLORS, statusLabel } from "./reference.js";
import { announce, announceError, connectStream, guard, setupHeader } from "./shell.js";
import { IncidentSet } from "./stream.js";

// An agency that has not acknowledged after these many seconds is flagged amber, then red:
// the board timers of routing_rules/deadlines.toml (GET /deadlines), these until loaded.
let WARN_S = 30;
let ALARM_S = 60;
const KPI_REFRESH_MS = 30_000;
const STATUS_ORDER = ["dispatched", "acknowledged", "en_route", "on_scene"];
const CLOSE_REASONS = ["resolved", "duplicate", "prank", "unfounded", "referred", "cancelled"];
const OUTCOME_SERIES = [
  { key: "incident", color: "#ef4444" },
  { key: "duplicate", color: "#f97316" },
  { key: "prank", color: "#a78bfa" },
  { key: "ghost", color: "#64748b" },
  { key: "info", color: "#38bdf8" },
  { key: "misdial", color: "#facc15" },
  { key: "abandoned", color: "#94a3b8" },
];

const $ = (id) => document.getElementById(id);

const state = {
  incidents: new IncidentSet(),
  selectedId: null,
  detail: null, // GET /incidents/{id} of the selected incident (has the timeline)
  alarmSignature: "",
  announced: new Set(),
  map: null,
};

const ageOf = (iso) => (Date.now() - Date.parse(iso)) / 1000;

function level(seconds) {
  return seconds > ALARM_S ? "alarm" : seconds > WARN_S ? "warn" : "";
}

/** The timer text: the icon repeats what the colour says. */
function timerText(seconds, lvl) {
  const icon = lvl === "alarm" ? "‼ " : lvl === "warn" ? "⚠ " : "";
  return `${icon}${fmtDuration(seconds)}`;
}

function timer(since, unacknowledged) {
  return h("span", { class: "timer", dataset: { since, unack: unacknowledged ? "1" : "" } });
}

// --- board ----------------------------------------------------------------------------

function renderBoard() {
  const incidents = state.incidents.all();
  $("board-count").textContent = String(incidents.length);
  const table = $("board");
  table.querySelectorAll("tbody").forEach((body) => body.remove());
  if (!incidents.length) {
    table.append(h("tbody", {}, h("tr", {}, h("td", { colspan: 5, class: "empty" }, t("board.empty")))));
    return;
  }
  for (const status of STATUS_ORDER) {
    const group = incidents
      .filter((i) => i.status === status)
      .sort((a, b) => a.priority - b.priority || Date.parse(a.created_at) - Date.parse(b.created_at));
    if (!group.length) continue;
    table.append(
      h("tbody", { class: "group" }, h("tr", {}, h("th", { colspan: 5, scope: "rowgroup" }, `${statusLabel(status)} (${group.length})`))),
      h("tbody", {}, group.map(boardRow)),
    );
  }
  tick();
}

function boardRow(incident) {
  return h("tr", { dataset: { incidentId: incident.id }, class: incident.id === state.selectedId ? "selected" : "" },
    h("td", {}, h("button", { type: "button", class: "link", onclick: () => select(incident.id), "aria-label": t("board.select", { id: incident.id }) }, `#${incident.id}`)),
    h("td", {}, categoryName(incident.category), " ", h("span", { class: `badge p${incident.priority}` }, `P${incident.priority}`),
      incident.description ? h("div", { class: "muted" }, incident.description.slice(0, 80)) : null),
    h("td", {}, placeLabel(incident)),
    h("td", {}, h("div", { class: "chips" }, incident.assignments.filter((a) => LIVE.has(a.status)).map((a) =>
      h("span", { class: `badge ${a.status === "dispatched" ? "warn" : "ok"}`, title: agencyName(a.agency) },
        `${a.agency} ${statusLabel(a.status)}`)))),
    h("td", { class: "num" }, timer(incident.created_at, incident.status === "dispatched")),
  );
}

/** Once a second: refresh every timer, and rebuild the alarm list when its content changes. */
function tick() {
  for (const el of document.querySelectorAll(".timer[data-since]")) {
    const seconds = ageOf(el.dataset.since);
    const lvl = el.dataset.unack ? level(seconds) : "";
    el.className = `timer ${lvl}`;
    el.textContent = timerText(seconds, lvl);
  }
  const alarms = currentAlarms();
  const signature = alarms.map((a) => `${a.key}=${a.level}`).join(",");
  if (signature !== state.alarmSignature) {
    state.alarmSignature = signature;
    renderAlarms(alarms);
  }
}

// --- alarms: unacknowledged dispatches ------------------------------------------------

function currentAlarms() {
  const alarms = [];
  for (const incident of state.incidents.all()) {
    for (const a of incident.assignments) {
      if (a.status !== "dispatched") continue;
      const key = `${incident.id}:${a.agency}`;
      // Overdue (1) and escalated (2) come from the server's deadline watch, in the snapshot.
      const escalation = a.escalation_level || null;
      const seconds = ageOf(a.dispatched_at);
      alarms.push({ key, incident, assignment: a, escalation, seconds, level: escalation ? "alarm" : level(seconds) });
    }
  }
  return alarms.sort((x, y) => y.seconds - x.seconds);
}

function renderAlarms(alarms) {
  $("alarm-count").textContent = String(alarms.length);
  if (!alarms.length) {
    fill($("alarms"), h("li", { class: "empty" }, `✓ ${t("alarms.none")}`));
    return;
  }
  fill($("alarms"), alarms.map((a) =>
    h("li", { class: `alarm-item ${a.level}`, dataset: { alarmIncident: a.incident.id } },
      h("strong", {}, t("alarms.item", { agency: a.assignment.agency, id: a.incident.id, category: categoryName(a.incident.category) })),
      a.escalation ? h("span", { class: "badge alarm" }, t("alarms.escalated", { level: a.escalation })) : null,
      h("span", { style: "margin-left:auto" }, timer(a.assignment.dispatched_at, true)),
      h("button", { type: "button", onclick: () => select(a.incident.id) }, t("alarms.open")))));
  for (const a of alarms) {
    if (a.level !== "alarm" || state.announced.has(a.key)) continue;
    state.announced.add(a.key);
    $("alarm-live").textContent = t("alarms.announce", { agency: a.assignment.agency, id: a.incident.id });
  }
  tick();
}

// --- map and agency load --------------------------------------------------------------

function renderMap() {
  state.map?.showIncidents(state.incidents.all().map((i) => ({
    id: i.id,
    lat: i.location.lat,
    lon: i.location.lon,
    color: STATUS_COLORS[i.status] ?? "#94a3b8",
    label: `#${i.id} ${statusLabel(i.status)}`,
  })));
}

function renderLoad() {
  const counts = new Map([...ref.agencies.keys()].map((code) => [code, 0]));
  for (const incident of state.incidents.all()) {
    for (const a of incident.assignments) if (LIVE.has(a.status)) counts.set(a.agency, (counts.get(a.agency) ?? 0) + 1);
  }
  const max = Math.max(1, ...counts.values());
  const rows = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  fill($("load"), rows.map(([code, n]) =>
    h("div", { class: "load-bar", title: agencyName(code) },
      h("span", { class: "mono" }, code),
      h("span", { class: "bar", "aria-hidden": "true" }, h("span", { style: `width:${(n / max) * 100}%` })),
      h("span", { class: "num" }, String(n)))));
}

// --- the selected incident and its actions ----------------------------------------------

async function select(id) {
  state.selectedId = id;
  renderBoard();
  await loadDetail();
  $("selected-title").focus();
}

async function loadDetail() {
  if (state.selectedId === null) return renderSelected();
  try {
    state.detail = await api(`/incidents/${state.selectedId}`);
  } catch (err) {
    state.detail = null;
    announceError(err);
  }
  renderSelected();
}

/** Run an action; the stream brings the change to the board, the detail is reloaded. */
async function act(path, body, done) {
  try {
    await api(path, { method: "POST", body });
    announce(done, "success");
    await loadDetail();
  } catch (err) {
    announceError(err);
  }
}

function renderSelected() {
  const box = $("selected");
  const incident = state.detail;
  if (!incident || incident.id !== state.selectedId) return fill(box, h("p", { class: "empty" }, t("selected.none")));
  const id = incident.id;
  const live = incident.assignments.filter((a) => LIVE.has(a.status));
  const liveCodes = new Set(live.map((a) => a.agency));
  const phones = [...new Set(incident.calls.map((c) => c.phone).filter(Boolean))];
  fill(box,
    h("p", {}, h("strong", {}, `#${id} ${categoryName(incident.category)}`), " ",
      h("span", { class: `badge p${incident.priority}` }, `P${incident.priority}`), " ", statusLabel(incident.status)),
    h("p", { class: "muted" }, `${placeLabel(incident)} · ${fmtTime(incident.created_at)} · ${t("selected.rule")} ${incident.rule}`),
    incident.description ? h("p", {}, incident.description) : null,
    phones.length ? h("p", {}, `${t("selected.callers")}: `, phones.map((p) =>
      h("button", { type: "button", class: "link mono", onclick: () => lookupNumber(p) }, p)).flatMap((b) => [b, " "])) : null,
    h("table", {},
      h("thead", {}, h("tr", {}, ["selected.agency", "selected.role", "selected.status", ""].map((k) => h("th", { scope: "col" }, k ? t(k) : "")))),
      h("tbody", {}, incident.assignments.map((a) => h("tr", {},
        h("td", { title: agencyName(a.agency) }, a.agency),
        h("td", {}, t(`role.${a.role}`)),
        h("td", {}, statusLabel(a.status)),
        h("td", {}, LIVE.has(a.status)
          ? h("button", { type: "button", onclick: () => act(`/incidents/${id}/assignments/${a.agency}/cancel`, { reason: $("action-note").value || undefined }, t("done.cancelled", { agency: a.agency, id })) }, t("selected.cancel"))
          : null))))),
    h("div", {}, h("label", { for: "action-note" }, t("selected.note")), h("input", { id: "action-note", autocomplete: "off" })),
    h("div", { class: "actions-grid" },
      h("fieldset", {}, h("legend", {}, t("selected.add")),
        h("label", { for: "add-agency" }, t("selected.agency")),
        h("select", { id: "add-agency" }, [...ref.agencies.keys()].filter((c) => !liveCodes.has(c)).map((c) => h("option", { value: c }, `${c} — ${agencyName(c)}`))),
        h("label", { for: "add-role" }, t("selected.role")),
        h("select", { id: "add-role" }, h("option", { value: "support" }, t("role.support")), h("option", { value: "primary" }, t("role.primary"))),
        h("button", { type: "button", onclick: () => act(`/incidents/${id}/assignments`, { agency: $("add-agency").value, role: $("add-role").value }, t("done.added", { agency: $("add-agency").value, id })) }, t("selected.add_button"))),
      h("fieldset", {}, h("legend", {}, t("selected.close")),
        h("label", { for: "close-reason" }, t("selected.reason")),
        h("select", { id: "close-reason" }, CLOSE_REASONS.map((r) => h("option", { value: r }, t(`reason.${r}`)))),
        h("button", { type: "button", class: "danger", onclick: () => act(`/incidents/${id}/close`, { reason: $("close-reason").value, note: $("action-note").value || undefined }, t("done.closed", { id })) }, t("selected.close_button")),
        h("label", { for: "merge-into" }, t("selected.merge_into")),
        h("input", { id: "merge-into", inputmode: "numeric", autocomplete: "off" }),
        h("button", { type: "button", onclick: () => merge(id) }, t("selected.merge_button")))),
    h("h3", {}, t("selected.timeline")),
    h("ul", { class: "list" }, (incident.timeline ?? []).slice(-8).reverse().map((e) =>
      h("li", { class: "muted" }, `${fmtTime(e.at)} · ${e.type} · ${e.actor ?? ""}`))),
  );
}

function merge(id) {
  const into = Number($("merge-into").value.replace("#", ""));
  if (!Number.isInteger(into) || into <= 0 || into === id) {
    $("merge-into").setAttribute("aria-invalid", "true");
    announce(t("selected.merge_invalid"), "error");
    return;
  }
  act(`/incidents/${id}/merge`, { into }, t("done.merged", { id, into }));
}

// --- numbers: look up, block, unblock -------------------------------------------------

async function lookupNumber(phone) {
  const form = $("number-form");
  form.phone.value = phone;
  try {
    const info = await api(`/numbers/${encodeURIComponent(phone)}`);
    const s = info.screening ?? {};
    fill($("number-info"),
      h("p", { class: s.blocked ? "notice error" : "notice" },
        s.blocked ? `⛔ ${t("numbers.blocked")}${s.blocked_until ? ` — ${fmtTime(s.blocked_until)}` : ""}` : `✓ ${t("numbers.not_blocked")}`,
        ` · ${t("numbers.score")} ${Math.round((s.prank_score ?? 0) * 100)}% · ${t("numbers.calls", { n: info.history?.length ?? 0 })}`),
      s.reasons?.length ? h("ul", { class: "list" }, s.reasons.map((r) => h("li", {}, r))) : null);
  } catch (err) {
    fill($("number-info"));
    announceError(err);
  }
}

async function changeBlock(action) {
  const form = $("number-form");
  const phone = form.phone.value.trim();
  const reason = form.reason.value.trim();
  if (!phone || !reason) {
    announce(t("numbers.need"), "error");
    (phone ? form.reason : form.phone).focus();
    return;
  }
  try {
    await api(`/numbers/${encodeURIComponent(phone)}/${action}`, { method: "POST", body: { reason } });
    announce(t(`numbers.done_${action}`, { phone }), "success");
    form.reason.value = "";
    await lookupNumber(phone);
  } catch (err) {
    announceError(err);
  }
}

// --- KPIs -----------------------------------------------------------------------------

/** Midnight WIB today, as an ISO string with the +07:00 offset. */
function startOfDayWib() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  return `${parts}T00:00:00+07:00`;
}

async function loadKpis() {
  const from = startOfDayWib();
  const to = new Date().toISOString();
  $("kpi-range").textContent = `${fmtTime(from)} – ${fmtTime(to)}`;
  try {
    state.stats = await api(`/stats?${query({ from, to })}`);
  } catch (err) {
    state.stats = err.status === 404 ? "unavailable" : null;
    if (err.status !== 404) announceError(err);
  }
  renderKpis();
}

function kpiBlock(key) {
  const m = state.stats[key] ?? {};
  const unit = t("unit.s");
  // Acknowledge is judged against each dispatch's own deadline (within_deadline_pct).
  const share = m.compliance_pct ?? m.within_deadline_pct ?? null;
  const pct = share === null ? "—" : `${Math.round(share)}%`;
  const ok = m.meets_target ?? (share !== null && share >= 90);
  return h("div", { class: "chart" },
    h("h3", {}, t(`kpi.${key}`)),
    targetChart({ bars: [{ name: "P50", value: m.p50_s, color: "#38bdf8" }, { name: "P90", value: m.p90_s, color: "#818cf8" }], target: m.target_s, unit }),
    h("p", { class: "muted" },
      h("span", { class: `badge ${ok ? "ok" : "warn"}` }, `${ok ? "✓" : "⚠"} ${t("kpi.compliance")} ${pct}`),
      ` n=${m.n ?? 0}`));
}

function renderKpis() {
  const box = $("kpi");
  if (state.stats === "unavailable") return fill(box, h("p", { class: "muted" }, t("kpi.unavailable")));
  if (!state.stats) return fill(box, h("p", { class: "empty" }, t("kpi.loading")));
  const hours = Object.entries(state.stats.outcomes_by_hour ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const hourFormat = new Intl.DateTimeFormat(getLang() === "id" ? "id-ID" : "en-GB", { timeZone: "Asia/Jakarta", hour: "2-digit", hourCycle: "h23" });
  const series = OUTCOME_SERIES.map((s) => ({ ...s, name: t(`outcome.${s.key}`) }));
  fill(box,
    h("div", { class: "kpi-grid" }, kpiBlock("processing"), kpiBlock("acknowledge"), kpiBlock("answer"), kpiBlock("response")),
    h("h3", {}, t("kpi.outcomes")),
    hours.length
      ? h("div", { class: "chart" }, stackedBars({ columns: hours.map(([hour, counts]) => ({ label: hourFormat.format(new Date(hour)), counts })), series }))
      : h("p", { class: "empty" }, t("kpi.no_calls")),
    h("div", { class: "legend" }, series.map((s) => h("span", {}, h("i", { style: `background:${s.color}` }), s.name))));
}

// --- stream ---------------------------------------------------------------------------

function onEvent(event) {
  const id = state.incidents.apply(event);
  if (id === null) return;
  renderAll();
  if (id !== null && id === state.selectedId) loadDetail();
  if (event.type === "incident.closed") loadKpis();
}

function renderAll() {
  renderBoard();
  renderMap();
  renderLoad();
}

// --- start ----------------------------------------------------------------------------

async function main(session) {
  setupHeader(session);
  await loadReference();
  const { timers } = await api("/deadlines");
  WARN_S = timers.dispatched.warn_s;
  ALARM_S = timers.dispatched.alert_s;
  const { incidents, last_seq: lastSeq } = await api("/incidents?status=open");
  state.incidents = new IncidentSet(incidents);
  renderAll();
  renderSelected();
  $("selected-title").tabIndex = -1;
  $("number-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const phone = $("number-form").phone.value.trim();
    if (phone) lookupNumber(phone);
  });
  $("block").addEventListener("click", () => changeBlock("block"));
  $("unblock").addEventListener("click", () => changeBlock("unblock"));
  onLangChange(() => {
    state.alarmSignature = "";
    renderAll();
    renderSelected();
    renderKpis();
  });
  setInterval(tick, 1000);
  connectStream({ after: lastSeq, onEvent });
  loadKpis();
  setInterval(loadKpis, KPI_REFRESH_MS);
  state.map = await createMap($("map"));
  renderMap();
}

const session = guard(["supervisor", "admin"]);
if (session) await main(session);
