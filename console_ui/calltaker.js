// Call-taker screen: take a call, close the >98% that are prank/ghost/info in one keystroke,
// and turn the rest into an incident after checking for duplicates. Routing is the server's
// job: this screen only shows which agencies were notified and why.

import { api, query } from "./api.js";
import { fill, h } from "./dom.js";
import { fmtAgo, fmtDistance, fmtDuration, fmtTime, nameOf, onLangChange, t } from "./i18n.js";
import { createMap } from "./map.js";
import { agencyName, categoryName, loadReference, placeLabel, ref, statusLabel } from "./reference.js";
import { announce, announceError, connectStream, guard, setupHeader } from "./shell.js";
import { IncidentSet } from "./stream.js";

const NEARBY_DEBOUNCE_MS = 350;

const $ = (id) => document.getElementById(id);
const callForm = $("new-call-form");
const form = $("incident-form");

const state = {
  call: null, // the call being handled, as returned by POST /calls (+ screening, history)
  queue: new Map(), // calls waiting for a call-taker, by id
  incidents: new IncidentSet(),
  candidates: null, // null: not asked yet; "unavailable": server lacks the endpoint
  result: null, // the incident just created
  clientRef: newClientRef(), // kept across retries of one submit so it stays idempotent
  priorityTouched: false,
  map: null,
};

function newClientRef() {
  return crypto.randomUUID();
}

/** A coordinate typed by a person: accepts "-6,12" as well as "-6.12". */
function parseNumber(text) {
  const value = Number(String(text).trim().replace(",", "."));
  return String(text).trim() === "" || !Number.isFinite(value) ? null : value;
}

function formLocation() {
  const lat = parseNumber(form.lat.value);
  const lon = parseNumber(form.lon.value);
  if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

// --- the current call -----------------------------------------------------------------

async function receiveCall(event) {
  event.preventDefault();
  const phone = callForm.phone.value.trim();
  if (!phone) {
    announce(t("call.phone_required"), "error");
    callForm.phone.focus();
    return;
  }
  const body = { phone, channel: "voice" };
  const lat = parseNumber(callForm.lat.value);
  const lon = parseNumber(callForm.lon.value);
  if (lat !== null && lon !== null) {
    body.location = { lat, lon };
    const accuracy = parseNumber(callForm.accuracy.value);
    if (accuracy !== null) body.location.accuracy_m = accuracy;
  }
  try {
    const call = await api("/calls", { method: "POST", body });
    callForm.reset();
    await answer(call);
  } catch (err) {
    announceError(err);
  }
}

/** Make a call the current one; fills the number's screening if the call came without it. */
async function answer(call) {
  state.queue.delete(call.id);
  state.call = call;
  state.result = null;
  state.clientRef = newClientRef();
  if (!call.screening && call.phone) {
    try {
      const info = await api(`/numbers/${encodeURIComponent(call.phone)}`);
      state.call = { ...call, screening: info.screening, history: info.history, block: info.block };
    } catch {
      // Queue entries from older servers have no lookup: the call is still answerable.
    }
  }
  resetIncidentForm();
  if (call.location) setLocation(call.location.lat, call.location.lon);
  renderAll();
  // Leave the text fields so that P / G / I work at once.
  $("current-call-panel").focus();
}

async function closeCall(outcome) {
  const call = state.call;
  if (!call) {
    announce(t("call.none"), "warn");
    return;
  }
  try {
    await api(`/calls/${call.id}/outcome`, { method: "POST", body: { outcome } });
    finishCall();
    announce(t("call.closed", { id: call.id, outcome: t(`outcome.${outcome}`) }), "success");
  } catch (err) {
    announceError(err);
  }
}

function finishCall() {
  state.call = null;
  state.candidates = null;
  resetIncidentForm();
  renderAll();
}

function renderCall() {
  const call = state.call;
  const box = $("current-call");
  if (!call) {
    fill(box, h("p", { class: "empty" }, t("current.none")));
    return;
  }
  const screening = call.screening;
  fill(
    box,
    h("div", { class: "caller-number mono", "data-testid": "caller-number" }, call.phone ?? t("call.hidden_number")),
    h("p", { class: "muted" }, t("current.meta", { id: call.id, time: fmtTime(call.received_at), channel: t(`channel.${call.channel ?? "voice"}`) })),
    call.location
      ? h("p", {}, t("current.handset", { lat: call.location.lat.toFixed(5), lon: call.location.lon.toFixed(5), acc: call.location.accuracy_m ?? "?" }))
      : h("p", { class: "muted" }, t("current.no_handset")),
    screening?.blocked ? renderBlocked(screening, call.block) : null,
    screening ? renderScore(screening) : h("p", { class: "muted" }, t("screen.unavailable")),
    h("div", { class: "outcome-keys", role: "group", "aria-label": t("current.outcomes") },
      outcomeButton("prank", "P"),
      outcomeButton("ghost", "G"),
      outcomeButton("info", "I"),
      outcomeButton("misdial"),
      outcomeButton("abandoned"),
    ),
    h("h3", {}, t("history.title")),
    renderHistory(call.history),
  );
}

function renderBlocked(screening, block) {
  const until = screening.blocked_until ? t("block.until", { time: fmtTime(screening.blocked_until) }) : t("block.permanent");
  return h("div", { class: "blocked-banner", role: "alert" },
    h("strong", {}, `⛔ ${t("block.blocked")} — ${until}`),
    block?.reason ? h("div", {}, t("block.reason", { reason: block.reason })) : null,
    h("div", {}, t("block.still_answer")),
  );
}

function renderScore(screening) {
  const score = screening.prank_score ?? 0;
  const level = score >= 0.7 ? "high" : score >= 0.4 ? "medium" : "low";
  return h("div", {},
    h("div", { class: "score" },
      h("label", { for: "prank-meter" }, t("screen.score")),
      h("meter", { id: "prank-meter", min: 0, max: 1, low: 0.4, high: 0.7, optimum: 0, value: score }),
      h("span", { class: `badge ${level === "high" ? "alarm" : level === "medium" ? "warn" : "ok"}` },
        `${Math.round(score * 100)}% · ${t(`screen.level.${level}`)}`),
    ),
    screening.permanent_block_requested ? h("p", { class: "notice warn" }, `⚠ ${t("screen.permanent_requested")}`) : null,
    screening.reasons?.length
      ? h("ul", { class: "list" }, screening.reasons.map((reason) => h("li", {}, reason)))
      : h("p", { class: "muted" }, t("screen.no_reasons")),
  );
}

function outcomeButton(outcome, key) {
  return h("button", { type: "button", onclick: () => closeCall(outcome), "aria-keyshortcuts": key },
    key ? h("kbd", {}, key) : null, " ", t(`outcome.${outcome}`));
}

function renderHistory(history) {
  if (!history?.length) return h("p", { class: "empty" }, t("history.none"));
  return h("ul", { class: "list" }, history.map((c) =>
    h("li", {}, `${fmtTime(c.received_at)} · ${c.outcome ? t(`outcome.${c.outcome}`) : t("outcome.pending")}`,
      c.incident_id ? ` · #${c.incident_id}` : "")));
}

// --- the queue of calls nobody has handled yet -------------------------------------------

function queueCall(call) {
  if (call.outcome || call.id === state.call?.id) return;
  state.queue.set(call.id, call);
}

function renderQueue() {
  const calls = [...state.queue.values()].sort((a, b) => a.id - b.id);
  $("queue-count").textContent = String(calls.length);
  if (!calls.length) {
    fill($("queue"), h("li", { class: "empty" }, t("queue.empty")));
    return;
  }
  fill($("queue"), calls.map((call) =>
    h("li", { class: "candidate", dataset: { callId: call.id } },
      h("span", { class: "what" }, h("strong", { class: "mono" }, call.phone ?? t("call.hidden_number")), " ",
        h("span", { class: "muted" }, fmtTime(call.received_at))),
      h("button", { type: "button", onclick: () => answer(call) }, t("queue.answer")))));
}

// --- the incident form ----------------------------------------------------------------

function renderCategoryOptions() {
  const selected = form.category.value;
  fill(form.category,
    h("option", { value: "" }, t("form.choose")),
    [...ref.categories.values()].map((c) => h("option", { value: c.code }, `${nameOf(c.name)} (P${c.priority})`)));
  form.category.value = selected;
}

function resetIncidentForm() {
  form.reset();
  state.priorityTouched = false;
  state.candidates = null;
  state.map?.clearPin();
  for (const field of form.elements) field.removeAttribute("aria-invalid");
}

function setLocation(lat, lon) {
  form.lat.value = lat.toFixed(5);
  form.lon.value = lon.toFixed(5);
  state.map?.setPin(lat, lon);
  scheduleNearby();
}

function onCategoryChange() {
  const category = ref.categories.get(form.category.value);
  if (category && !state.priorityTouched) form.priority.value = String(category.priority);
  scheduleNearby();
}

function onCoordinateInput() {
  const location = formLocation();
  if (location) state.map?.setPin(location.lat, location.lon);
  scheduleNearby();
}

function invalid(field, message) {
  field.setAttribute("aria-invalid", "true");
  field.focus();
  announce(message, "error");
}

async function submitIncident(event) {
  event.preventDefault();
  for (const field of form.elements) field.removeAttribute("aria-invalid");
  const location = formLocation();
  if (!form.category.value) return invalid(form.category, t("form.need_category"));
  if (!location) return invalid(form.lat, t("form.need_location"));
  if (!state.call) return invalid(callForm.phone, t("form.need_call"));
  const body = {
    call_id: state.call.id,
    category: form.category.value,
    location,
    description: form.description.value.trim(),
    priority: Number(form.priority.value),
    client_ref: state.clientRef,
  };
  const submit = $("submit-incident");
  submit.disabled = true;
  try {
    const incident = await api("/incidents", { method: "POST", body });
    state.result = incident;
    state.clientRef = newClientRef();
    state.incidents.upsert(incident);
    const agencies = incident.assignments.map((a) => a.agency).join(", ");
    finishCall();
    announce(t("result.created", { id: incident.id, agencies }), "success");
    callForm.phone.focus();
  } catch (err) {
    // The same client_ref is sent again on retry, so pressing submit again cannot duplicate.
    if (err instanceof TypeError) announce(t("form.network_retry"), "error");
    else announceError(err);
  } finally {
    submit.disabled = false;
  }
}

function renderResult() {
  const incident = state.result;
  if (!incident) {
    fill($("result"), h("p", { class: "empty" }, t("result.none")));
    return;
  }
  fill($("result"),
    h("p", { class: "notice success", dataset: { incidentId: incident.id }, "data-testid": "result" },
      h("strong", {}, `#${incident.id} ${categoryName(incident.category)}`), ` · P${incident.priority}`),
    h("h3", {}, t("result.agencies")),
    h("ul", { class: "list" }, incident.assignments.map((a) =>
      h("li", {}, h("strong", {}, a.agency), ` ${agencyName(a.agency)} · ${t(`role.${a.role}`)} · ${statusLabel(a.status)}`))),
    h("p", {}, h("strong", {}, `${t("result.rule")}: `), h("span", { class: "mono" }, incident.rule),
      h("span", { class: "muted" }, ` (${t("result.ruleset")} ${incident.ruleset_version})`)),
    h("p", {}, h("strong", {}, `${t("result.zone")}: `), placeLabel(incident)),
    incident.units?.length
      ? h("ul", { class: "list" }, incident.units.map((u) =>
        h("li", { class: "muted" }, `${u.agency} ${u.unit_id} · ${fmtDistance(u.distance_m)} · ETA ${fmtDuration(u.eta_s)}`)))
      : null,
  );
}

// --- duplicate candidates -------------------------------------------------------------

let nearbyTimer = null;
let nearbyTicket = 0;

function scheduleNearby() {
  clearTimeout(nearbyTimer);
  nearbyTimer = setTimeout(fetchNearby, NEARBY_DEBOUNCE_MS);
}

async function fetchNearby() {
  const location = formLocation();
  const category = form.category.value;
  if (!location || !category) {
    state.candidates = null;
    renderCandidates();
    return;
  }
  // Answers can come back out of order while the operator types; only the newest counts.
  const ticket = ++nearbyTicket;
  const params = { ...location, category, accuracy_m: state.call?.location?.accuracy_m, phone: state.call?.phone };
  try {
    const { candidates } = await api(`/incidents/nearby?${query(params)}`);
    if (ticket === nearbyTicket) state.candidates = candidates;
  } catch (err) {
    if (ticket !== nearbyTicket) return;
    state.candidates = err.status === 404 ? "unavailable" : [];
    if (err.status !== 404) announceError(err);
  }
  renderCandidates();
}

async function attach(incidentId) {
  const call = state.call;
  if (!call) {
    announce(t("dup.need_call"), "warn");
    return;
  }
  try {
    await api(`/incidents/${incidentId}/calls`, { method: "POST", body: { call_id: call.id } });
    finishCall();
    announce(t("dup.attached", { call: call.id, id: incidentId }), "success");
    callForm.phone.focus();
  } catch (err) {
    announceError(err);
  }
}

function renderCandidates() {
  const box = $("candidates");
  const candidates = state.candidates;
  if (candidates === null) return fill(box, h("p", { class: "empty" }, t("dup.idle")));
  if (candidates === "unavailable") return fill(box, h("p", { class: "muted" }, t("dup.unavailable")));
  if (!candidates.length) return fill(box, h("p", { class: "notice" }, `✓ ${t("dup.none")}`));
  fill(box,
    h("p", { class: "notice warn" }, `⚠ ${t("dup.found", { n: candidates.length })}`),
    h("ul", { class: "list" }, candidates.map((c) => {
      // Candidates carry no status; the live incident set knows it when the incident is open.
      const status = state.incidents.get(c.incident_id)?.status;
      return h("li", { class: "candidate", dataset: { candidateId: c.incident_id } },
        h("div", { class: "what" },
          h("strong", {}, `#${c.incident_id} ${categoryName(c.category)}`),
          h("div", { class: "muted" },
            [fmtDistance(c.distance_m), fmtAgo(c.age_s), status && statusLabel(status), `${t("dup.score")} ${Math.round(c.score * 100)}%`]
              .filter(Boolean).join(" · ")),
          c.reasons?.length ? h("div", { class: "muted" }, c.reasons.join("; ")) : null),
        h("button", { type: "button", onclick: () => attach(c.incident_id) }, t("dup.attach", { id: c.incident_id })));
    })),
  );
}

// --- open incidents (context for the call-taker) ---------------------------------------

function renderOpen() {
  const incidents = state.incidents.all().sort((a, b) => b.id - a.id);
  $("open-count").textContent = String(incidents.length);
  if (!incidents.length) return fill($("open-incidents"), h("li", { class: "empty" }, t("open.none")));
  fill($("open-incidents"), incidents.map((i) =>
    h("li", { dataset: { incidentId: i.id } },
      h("strong", {}, `#${i.id} ${categoryName(i.category)}`), ` · P${i.priority}`,
      h("div", { class: "muted" }, `${placeLabel(i)} · ${statusLabel(i.status)} · ${fmtTime(i.created_at)}`))));
}

function renderAll() {
  renderCall();
  renderQueue();
  renderCandidates();
  renderResult();
  renderOpen();
}

// --- stream ---------------------------------------------------------------------------

function onEvent(event) {
  if (state.incidents.apply(event) !== null) renderOpen();
  if (event.type === "call.received") {
    // Older servers send only {phone, channel}; newer ones send the whole call.
    const call = event.data.call ?? { id: event.call_id, received_at: event.at, ...event.data };
    queueCall(call);
  } else if (event.call_id) {
    // Any other event about a call (closed, linked, opened an incident) takes it off the queue.
    state.queue.delete(event.call_id);
  }
  renderQueue();
}

// --- keyboard -------------------------------------------------------------------------

function isTyping(element) {
  return element && (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName));
}

const KEYS = {
  p: () => closeCall("prank"),
  g: () => closeCall("ghost"),
  i: () => closeCall("info"),
  n: () => callForm.phone.focus(),
  k: () => form.category.focus(),
};

function onKey(event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !callForm.contains(event.target)) {
    event.preventDefault();
    form.requestSubmit();
    return;
  }
  if (event.key === "Escape" && isTyping(document.activeElement)) {
    document.activeElement.blur();
    return;
  }
  // Single letters are shortcuts only outside text fields, so typing a description is safe.
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  const action = KEYS[event.key.toLowerCase()];
  if (action) {
    event.preventDefault();
    action();
  }
}

// --- start ----------------------------------------------------------------------------

async function main(session) {
  setupHeader(session);
  await loadReference();
  renderCategoryOptions();
  const [{ incidents, last_seq: lastSeq }, pending] = await Promise.all([
    api("/incidents?status=open"),
    api("/calls?pending=1").catch(() => ({ calls: [] })), // the queue endpoint may be absent
  ]);
  state.incidents = new IncidentSet(incidents);
  pending.calls.forEach(queueCall);
  renderAll();

  callForm.addEventListener("submit", receiveCall);
  form.addEventListener("submit", submitIncident);
  form.category.addEventListener("change", onCategoryChange);
  form.priority.addEventListener("change", () => (state.priorityTouched = true));
  form.lat.addEventListener("input", onCoordinateInput);
  form.lon.addEventListener("input", onCoordinateInput);
  document.addEventListener("keydown", onKey);
  onLangChange(() => {
    renderCategoryOptions();
    renderAll();
  });
  $("current-call-panel").tabIndex = -1;

  connectStream({ after: lastSeq, onEvent });
  state.map = await createMap($("map"), { onClick: setLocation });
}

const session = guard(["calltaker", "supervisor", "admin"]);
if (session) await main(session);
