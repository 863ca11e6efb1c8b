// Reference data (categories, agencies) loaded once per page, and the labels every screen
// uses for statuses: always an icon plus words, so no state is told by colour alone.

import { api } from "./api.js";
import { nameOf, t } from "./i18n.js";

export const ref = { categories: new Map(), agencies: new Map() };

export async function loadReference() {
  const [{ categories }, { agencies }] = await Promise.all([api("/categories"), api("/agencies")]);
  for (const c of categories) ref.categories.set(c.code, c);
  for (const a of agencies) ref.agencies.set(a.code, a);
}

export function categoryName(code) {
  const category = ref.categories.get(code);
  return category ? nameOf(category.name) : code;
}

export function agencyName(code) {
  const agency = ref.agencies.get(code);
  return agency ? nameOf(agency.name) : code;
}

const ICONS = {
  dispatched: "●",
  acknowledged: "✓",
  en_route: "➜",
  on_scene: "◉",
  resolved: "✔",
  declined: "✗",
  cancelled: "⊘",
  closed: "■",
};

/** "✓ Diterima" — icon and word for an incident or assignment status. */
export function statusLabel(status) {
  return `${ICONS[status] ?? "?"} ${t(`status.${status}`)}`;
}

/** Colour for map markers; the marker's permanent label carries the same status in words. */
export const STATUS_COLORS = {
  dispatched: "#ef4444",
  acknowledged: "#f59e0b",
  en_route: "#38bdf8",
  on_scene: "#a78bfa",
};

/** Assignment states in which an agency is still busy with the incident. */
export const LIVE = new Set(["dispatched", "acknowledged", "en_route", "on_scene"]);

/** "Kel. Serang, Kec. 36.73.01" or the out-of-area hand-over note. */
export function placeLabel(incident) {
  const zone = incident.zone_name ?? incident.zone ?? "?";
  const text = incident.kecamatan ? `${zone} (${incident.kecamatan})` : zone;
  if (!incident.out_of_area) return text;
  return `⚠ ${t("place.out_of_area")}${incident.handover ? ` — ${t("place.handover")}: ${incident.handover}` : ""}`;
}
