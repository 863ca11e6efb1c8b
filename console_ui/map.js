// Leaflet map of Kota Serang with the routing zones drawn from /api/v1/routing/zones.
// It needs no tile server: with no tile URL configured the zone outlines stand on a plain
// background, which is all a call centre without internet access can count on.

import { api } from "./api.js";

const TILE_URL_KEY = "dispatch.tileUrl";
const SERANG = [-6.12, 106.15];

const ZONE_STYLE = { color: "#64748b", weight: 1, fillColor: "#1e3a5f", fillOpacity: 0.35 };
const SPECIAL_STYLE = { color: "#c084fc", weight: 2, dashArray: "4 4", fillOpacity: 0.1 };

/** The tile URL from the element's data-tile-url, else localStorage; none by default. */
function tileUrl(element) {
  return element.dataset.tileUrl || localStorage.getItem(TILE_URL_KEY) || "";
}

export async function createMap(element, { onClick } = {}) {
  const L = window.L;
  const map = L.map(element, { attributionControl: false, zoomSnap: 0.25 }).setView(SERANG, 12);
  const tiles = tileUrl(element);
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);

  const zones = await api("/routing/zones");
  const layer = L.geoJSON(zones, {
    style: (feature) => (feature.properties.kind === "special" ? SPECIAL_STYLE : ZONE_STYLE),
    onEachFeature: (feature, zone) => zone.bindTooltip(feature.properties.name, { sticky: true }),
  }).addTo(map);
  map.fitBounds(layer.getBounds(), { padding: [4, 4] });
  if (onClick) map.on("click", (e) => onClick(e.latlng.lat, e.latlng.lng));
  return new ConsoleMap(map);
}

/** The few things screens do with a map: one pin, and a set of incident markers by id. */
class ConsoleMap {
  constructor(map) {
    this.map = map;
    this.pin = null;
    this.markers = new Map();
  }

  setPin(lat, lon) {
    const L = window.L;
    if (this.pin) this.pin.setLatLng([lat, lon]);
    else this.pin = L.circleMarker([lat, lon], { radius: 9, color: "#facc15", weight: 3, fillOpacity: 0.6 }).addTo(this.map);
  }

  clearPin() {
    this.pin?.remove();
    this.pin = null;
  }

  /** Show exactly these incidents: [{id, lat, lon, label, color}]. */
  showIncidents(items) {
    const L = window.L;
    const keep = new Set(items.map((item) => item.id));
    for (const [id, marker] of this.markers) {
      if (!keep.has(id)) {
        marker.remove();
        this.markers.delete(id);
      }
    }
    for (const item of items) {
      let marker = this.markers.get(item.id);
      if (!marker) {
        marker = L.circleMarker([item.lat, item.lon], { radius: 8, weight: 2, fillOpacity: 0.8 }).addTo(this.map);
        this.markers.set(item.id, marker);
      }
      marker.setLatLng([item.lat, item.lon]);
      marker.setStyle({ color: "#fff", fillColor: item.color });
      marker.unbindTooltip().bindTooltip(item.label, { permanent: true, direction: "right", offset: [8, 0] });
    }
  }

  invalidate() {
    this.map.invalidateSize();
  }
}
