// The one live-stream client of the console: follows /api/v1/stream from the last seq it saw,
// reconnects with exponential backoff, and never hands a screen the same event twice.
// It does not render anything except through the callbacks it is given.

import { getSession } from "./api.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
const RESYNC = 4001; // server: "you fell behind, reconnect with ?after=<last seq>"

export class Stream {
  /**
   * @param {object} options
   * @param {number} options.after  seq already reflected on screen (from the list call)
   * @param {(event: object) => void} options.onEvent  called once per seq, in order
   * @param {(state: {online: boolean, retryInMs?: number}) => void} options.onState
   */
  constructor({ after, onEvent, onState }) {
    this.lastSeq = after ?? 0;
    this.onEvent = onEvent;
    this.onState = onState;
    this.delay = FIRST_DELAY_MS;
    this.socket = null;
  }

  start() {
    const token = getSession()?.token ?? "";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/stream?after=${this.lastSeq}&token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer"; // the server sends JSON as binary frames
    this.socket = socket;
    socket.onopen = () => {
      this.delay = FIRST_DELAY_MS;
      this.onState({ online: true });
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (close) => this.reconnect(close.code);
  }

  receive(raw) {
    const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
    const event = JSON.parse(text);
    // Replays after a reconnect may overlap what was already shown: seq is the dedupe key.
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    this.onEvent(event);
  }

  reconnect(code) {
    this.socket = null;
    // A resync is the server asking us to come back at once; anything else may be an outage,
    // so back off (0.5 s, 1 s, 2 s ... 10 s) instead of hammering a restarting server.
    const wait = code === RESYNC ? 0 : this.delay;
    if (code !== RESYNC) this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.onState({ online: false, retryInMs: wait });
    setTimeout(() => this.start(), wait);
  }
}

/**
 * Open incidents keyed by id: every incident event carries the full current snapshot, so a
 * screen upserts it and drops it once closed. Rendering from this map means a row can never
 * appear twice, whatever order reconnects and replays happen in.
 */
export class IncidentSet {
  constructor(incidents = []) {
    this.byId = new Map();
    for (const incident of incidents) this.upsert(incident);
  }

  upsert(incident) {
    if (incident.status === "closed") this.byId.delete(incident.id);
    else this.byId.set(incident.id, incident);
  }

  /** Apply a stream event; returns the affected incident id, or null if none. */
  apply(event) {
    const incident = event.data?.incident;
    if (!incident) return null;
    this.upsert(incident);
    return incident.id;
  }

  get(id) {
    return this.byId.get(id);
  }

  all() {
    return [...this.byId.values()];
  }
}
