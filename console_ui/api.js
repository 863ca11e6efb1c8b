// Session and JSON calls to /api/v1 for every screen. It keeps the login token in
// sessionStorage (per tab, gone with the tab) and knows nothing about what a screen shows.

const SESSION_KEY = "dispatch.session";

export function getSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** The page each role works on; supervisors and admins share the supervisor board. */
export function homeFor(role) {
  return { calltaker: "/calltaker", supervisor: "/supervisor", admin: "/supervisor", agency: "/opd" }[role] ?? "/";
}

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields ?? {};
  }
}

/** JSON request; throws ApiError with the server's {error:{code,message,fields}} on failure. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const session = getSession();
  if (session?.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const isJson = (resp.headers.get("Content-Type") ?? "").includes("json");
  const data = isJson ? await resp.json() : null;
  if (resp.status === 401 && session) {
    // An expired or revoked token: the only way forward is a fresh login.
    clearSession();
    location.assign("/");
  }
  if (!resp.ok) {
    const error = data?.error ?? {};
    throw new ApiError(resp.status, error.code ?? `http_${resp.status}`, error.message ?? resp.statusText, error.fields);
  }
  return data;
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  }
  return q.toString();
}
