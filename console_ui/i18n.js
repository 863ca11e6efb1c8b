// Words and formats of the console: Bahasa Indonesia by default, English on request (the
// choice persists in localStorage). Times are always shown in WIB (Asia/Jakarta), whatever
// the workstation's own time zone is.

const LANG_KEY = "dispatch.lang";
const LOCALES = { id: "id-ID", en: "en-GB" };
const listeners = [];

let lang = LOCALES[localStorage.getItem(LANG_KEY)] ? localStorage.getItem(LANG_KEY) : "id";
document.documentElement.lang = lang;

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!LOCALES[next] || next === lang) return;
  lang = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
  listeners.forEach((fn) => fn(next));
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** Translate key, filling {name} placeholders from vars. */
export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.id[key];
  if (text === undefined) {
    // Loud on purpose: the browser tests fail on console errors, so no key goes missing.
    console.error(`i18n: missing key ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Server-provided names come as {id, en}. */
export function nameOf(names) {
  return names?.[lang] ?? names?.id ?? "";
}

/** Fill [data-i18n] text and [data-i18n-attr="attr:key;attr:key"] attributes under root. */
export function applyI18n(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
  root.querySelectorAll("[data-i18n-attr]").forEach((el) => {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  });
  const title = document.querySelector("[data-i18n-title]");
  if (title) document.title = `Dispatch 112 — ${t(title.dataset.i18nTitle)}`;
}

function format(options) {
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone: "Asia/Jakarta", hourCycle: "h23", ...options });
}

/** "09:05:12 WIB" */
export function fmtTime(iso) {
  if (!iso) return "—";
  return `${format({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso))} WIB`;
}

/** "Min, 22 Nov 09:05:12 WIB" for the header clock. */
export function fmtClock(date) {
  const day = format({ weekday: "short", day: "numeric", month: "short" }).format(date);
  return `${day} ${fmtTime(date.toISOString())}`;
}

/** "0:45", "12:03", "1:02:03" — an age or a timer. */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** "3 mnt lalu" / "3 min ago". */
export function fmtAgo(seconds) {
  const minutes = Math.round(seconds / 60);
  return minutes < 1 ? t("ago.now") : t("ago.minutes", { n: minutes });
}

export function fmtDistance(metres) {
  if (metres < 1000) return `${Math.round(metres)} m`;
  return `${new Intl.NumberFormat(LOCALES[lang], { maximumFractionDigits: 1 }).format(metres / 1000)} km`;
}

const STRINGS = {
  id: {
    "logout": "Keluar",
    "offline.banner": "⚠ Koneksi ke server terputus — menyambung ulang dalam {s} dtk. Data di layar mungkin belum terbaru.",
    "ago.now": "baru saja",
    "ago.minutes": "{n} mnt lalu",

    "login.title": "Masuk",
    "login.subtitle": "Pusat Panggilan Darurat 112 Kota Serang",
    "login.username": "Nama pengguna",
    "login.password": "Kata sandi",
    "login.submit": "Masuk",
    "login.failed": "Nama pengguna atau kata sandi salah.",

    "status.dispatched": "Didispatch",
    "status.acknowledged": "Diterima",
    "status.en_route": "Dalam perjalanan",
    "status.on_scene": "Di lokasi",
    "status.resolved": "Selesai",
    "status.declined": "Ditolak",
    "status.cancelled": "Dibatalkan",
    "status.closed": "Ditutup",
    "role.primary": "utama",
    "role.support": "pendukung",
    "place.out_of_area": "Di luar wilayah Kota Serang",
    "place.handover": "serahkan ke",
    "channel.voice": "suara",
    "channel.sms": "SMS",
    "channel.app": "aplikasi",

    "outcome.prank": "Iseng",
    "outcome.ghost": "Diam (ghost)",
    "outcome.info": "Informasi",
    "outcome.misdial": "Salah sambung",
    "outcome.abandoned": "Terputus",
    "outcome.incident": "Insiden",
    "outcome.duplicate": "Duplikat",
    "outcome.pending": "Belum ditutup",

    "calltaker.title": "Penerima panggilan",
    "call.new": "Panggilan baru",
    "call.phone": "Nomor penelepon",
    "call.handset_lat": "Lintang ponsel",
    "call.handset_lon": "Bujur ponsel",
    "call.accuracy": "Akurasi (m)",
    "call.new_hint": "Tekan Enter untuk menerima panggilan (demo; gateway telepon mengirim panggilan sendiri).",
    "call.receive": "Terima panggilan",
    "call.phone_required": "Isi nomor penelepon.",
    "call.none": "Tidak ada panggilan aktif.",
    "call.closed": "Panggilan #{id} ditutup: {outcome}.",
    "call.hidden_number": "Nomor disembunyikan",
    "queue.title": "Antrean panggilan",
    "queue.empty": "Tidak ada panggilan menunggu.",
    "queue.answer": "Jawab",
    "keys.title": "Tombol pintas",
    "keys.new": "Panggilan baru (fokus ke nomor)",
    "keys.prank": "Tutup sebagai iseng",
    "keys.ghost": "Tutup sebagai diam (ghost) — masuk daftar telepon balik",
    "keys.info": "Tutup sebagai informasi",
    "keys.category": "Ke kategori insiden",
    "keys.escape": "Keluar dari kolom isian",
    "keys.submit": "Kirim insiden",
    "current.title": "Panggilan aktif",
    "current.none": "Tidak ada panggilan aktif. Terima panggilan baru atau jawab dari antrean.",
    "current.meta": "Panggilan #{id} · diterima {time} · {channel}",
    "current.handset": "Lokasi ponsel: {lat}, {lon} (±{acc} m)",
    "current.no_handset": "Tanpa lokasi ponsel.",
    "current.outcomes": "Tutup panggilan tanpa insiden",
    "screen.score": "Skor iseng",
    "screen.level.low": "rendah",
    "screen.level.medium": "sedang",
    "screen.level.high": "tinggi",
    "screen.no_reasons": "Tidak ada catatan penyaringan.",
    "screen.unavailable": "Penyaringan nomor belum tersedia.",
    "screen.permanent_requested": "Blokir permanen telah diajukan untuk nomor ini.",
    "block.blocked": "NOMOR DIBLOKIR",
    "block.until": "sampai {time}",
    "block.permanent": "permanen",
    "block.reason": "Alasan: {reason}",
    "block.still_answer": "Panggilan tetap dapat dijawab dan diproses bila darurat.",
    "history.title": "Riwayat nomor",
    "history.none": "Belum ada panggilan sebelumnya.",
    "form.title": "Insiden",
    "form.category": "Kategori",
    "form.priority": "Prioritas",
    "form.choose": "— pilih kategori —",
    "form.lat": "Lintang (lat)",
    "form.lon": "Bujur (lon)",
    "form.map_hint": "Klik peta untuk menentukan lokasi, atau ketik koordinat.",
    "form.map_label": "Peta Kota Serang: klik untuk menentukan lokasi insiden",
    "form.description": "Keterangan",
    "form.submit": "Kirim & dispatch (Ctrl+Enter)",
    "form.need_category": "Pilih kategori insiden.",
    "form.need_location": "Isi lokasi: klik peta atau ketik lintang dan bujur yang valid.",
    "form.need_call": "Terima panggilan dulu (nomor penelepon).",
    "form.network_retry": "Gagal mengirim karena jaringan. Kirim lagi: aman, tidak akan tercatat ganda.",
    "dup.title": "Kemungkinan duplikat",
    "dup.idle": "Pilih kategori dan lokasi untuk memeriksa insiden serupa di sekitar.",
    "dup.unavailable": "Pemeriksaan duplikat belum tersedia di server ini.",
    "dup.none": "Tidak ada insiden serupa di sekitar.",
    "dup.found": "{n} insiden serupa di sekitar — periksa sebelum membuat baru.",
    "dup.score": "skor",
    "dup.attach": "Lampirkan ke #{id}",
    "dup.need_call": "Tidak ada panggilan aktif untuk dilampirkan.",
    "dup.attached": "Panggilan #{call} dilampirkan ke insiden #{id}.",
    "result.title": "Hasil dispatch",
    "result.none": "Belum ada insiden dikirim dari panggilan ini.",
    "result.created": "Insiden #{id} dibuat. Dinotifikasi: {agencies}.",
    "result.agencies": "Instansi dinotifikasi",
    "result.rule": "Aturan",
    "result.ruleset": "versi",
    "result.zone": "Wilayah",
    "open.title": "Insiden terbuka",
    "open.none": "Tidak ada insiden terbuka.",
    "supervisor.title": "Supervisor",
    "map.title": "Peta insiden",
    "map.label": "Peta Kota Serang dengan insiden terbuka",
    "alarms.title": "Alarm: dispatch belum diterima",
    "alarms.none": "Semua dispatch sudah diterima instansi.",
    "alarms.item": "{agency} belum menerima #{id} {category}",
    "alarms.escalated": "Eskalasi tingkat {level}",
    "alarms.open": "Buka",
    "alarms.announce": "Alarm: {agency} belum menerima insiden #{id} lebih dari 60 detik.",
    "board.title": "Insiden terbuka",
    "board.category": "Kategori",
    "board.place": "Wilayah",
    "board.agencies": "Instansi",
    "board.age": "Umur",
    "board.empty": "Tidak ada insiden terbuka.",
    "board.select": "Pilih insiden #{id}",
    "load.title": "Beban instansi (penugasan aktif)",
    "selected.title": "Insiden terpilih",
    "selected.none": "Pilih insiden di papan untuk melihat rincian dan tindakan.",
    "selected.rule": "aturan",
    "selected.callers": "Penelepon",
    "selected.agency": "Instansi",
    "selected.role": "Peran",
    "selected.status": "Status",
    "selected.cancel": "Batalkan",
    "selected.note": "Catatan tindakan",
    "selected.add": "Tambah instansi",
    "selected.add_button": "Tambahkan",
    "selected.close": "Tutup / gabung",
    "selected.reason": "Alasan penutupan",
    "selected.close_button": "Tutup insiden",
    "selected.merge_into": "Gabungkan ke insiden #",
    "selected.merge_button": "Gabungkan",
    "selected.merge_invalid": "Isi nomor insiden tujuan yang lain.",
    "selected.timeline": "Linimasa",
    "reason.resolved": "Selesai ditangani",
    "reason.duplicate": "Duplikat",
    "reason.prank": "Iseng",
    "reason.unfounded": "Tidak terbukti",
    "reason.referred": "Dirujuk",
    "reason.cancelled": "Dibatalkan",
    "done.cancelled": "Penugasan {agency} pada #{id} dibatalkan.",
    "done.added": "{agency} ditambahkan ke #{id}.",
    "done.closed": "Insiden #{id} ditutup.",
    "done.merged": "Insiden #{id} digabung ke #{into}.",
    "numbers.title": "Nomor telepon",
    "numbers.phone": "Nomor",
    "numbers.lookup": "Cari",
    "numbers.reason": "Alasan blokir / buka blokir",
    "numbers.block": "Blokir",
    "numbers.unblock": "Buka blokir",
    "numbers.blocked": "Diblokir",
    "numbers.not_blocked": "Tidak diblokir",
    "numbers.score": "skor iseng",
    "numbers.calls": "{n} panggilan",
    "numbers.need": "Isi nomor dan alasan.",
    "numbers.done_block": "Nomor {phone} diblokir.",
    "numbers.done_unblock": "Blokir nomor {phone} dibuka.",
    "unit.s": "dtk",
    "kpi.title": "KPI hari ini",
    "kpi.processing": "Proses (jawab → instansi dinotifikasi)",
    "kpi.acknowledge": "Penerimaan oleh instansi",
    "kpi.answer": "Menjawab panggilan",
    "kpi.response": "Respons (tiba di lokasi)",
    "kpi.compliance": "sesuai target",
    "kpi.unavailable": "Statistik belum tersedia di server ini.",
    "kpi.loading": "Memuat statistik…",
    "kpi.outcomes": "Panggilan per jam menurut hasil",
    "kpi.no_calls": "Belum ada panggilan hari ini.",

    "opd.title": "Instansi",
    "opd.enable_sound": "♪ Aktifkan suara",
    "opd.assignments": "Penugasan aktif",
    "opd.none": "Tidak ada penugasan aktif.",
    "opd.alert": "DISPATCH BARU — terima sekarang ({n}): {list}",
    "opd.place": "Lokasi",
    "opd.role": "Peran",
    "opd.dispatched_at": "Didispatch",
    "opd.description": "Keterangan",
    "opd.caller": "Penelepon",
    "opd.units": "Unit terdekat",
    "opd.others": "Instansi lain",
    "opd.note": "Catatan (wajib untuk menolak)",
    "opd.decline_needs_note": "Tulis alasan penolakan di catatan: insiden akan dialihkan ke instansi cadangan.",
    "opd.update": "Perbarui status",
    "opd.updated": "#{id}: {status}.",
    "opd.action.acknowledged": "✓ Terima",
    "opd.action.en_route": "➜ Berangkat",
    "opd.action.on_scene": "◉ Tiba di lokasi",
    "opd.action.resolved": "✔ Selesai",
    "opd.action.declined": "✗ Tolak",
  },
  en: {
    "logout": "Log out",
    "offline.banner": "⚠ Connection to the server lost — reconnecting in {s} s. What you see may be out of date.",
    "ago.now": "just now",
    "ago.minutes": "{n} min ago",

    "login.title": "Log in",
    "login.subtitle": "Kota Serang 112 Emergency Call Centre",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "Wrong username or password.",

    "status.dispatched": "Dispatched",
    "status.acknowledged": "Acknowledged",
    "status.en_route": "En route",
    "status.on_scene": "On scene",
    "status.resolved": "Resolved",
    "status.declined": "Declined",
    "status.cancelled": "Cancelled",
    "status.closed": "Closed",
    "role.primary": "primary",
    "role.support": "support",
    "place.out_of_area": "Outside Kota Serang",
    "place.handover": "hand over to",
    "channel.voice": "voice",
    "channel.sms": "SMS",
    "channel.app": "app",

    "outcome.prank": "Prank",
    "outcome.ghost": "Silent (ghost)",
    "outcome.info": "Information",
    "outcome.misdial": "Misdial",
    "outcome.abandoned": "Abandoned",
    "outcome.incident": "Incident",
    "outcome.duplicate": "Duplicate",
    "outcome.pending": "Not closed",

    "calltaker.title": "Call-taker",
    "call.new": "New call",
    "call.phone": "Caller number",
    "call.handset_lat": "Handset latitude",
    "call.handset_lon": "Handset longitude",
    "call.accuracy": "Accuracy (m)",
    "call.new_hint": "Press Enter to take the call (demo; a phone gateway posts calls itself).",
    "call.receive": "Take call",
    "call.phone_required": "Enter the caller's number.",
    "call.none": "No active call.",
    "call.closed": "Call #{id} closed: {outcome}.",
    "call.hidden_number": "Number withheld",
    "queue.title": "Call queue",
    "queue.empty": "No calls waiting.",
    "queue.answer": "Answer",
    "keys.title": "Keyboard shortcuts",
    "keys.new": "New call (focus the number)",
    "keys.prank": "Close as prank",
    "keys.ghost": "Close as silent (ghost) — goes to the callback list",
    "keys.info": "Close as information",
    "keys.category": "Go to incident category",
    "keys.escape": "Leave the text field",
    "keys.submit": "Submit incident",
    "current.title": "Current call",
    "current.none": "No active call. Take a new call or answer one from the queue.",
    "current.meta": "Call #{id} · received {time} · {channel}",
    "current.handset": "Handset location: {lat}, {lon} (±{acc} m)",
    "current.no_handset": "No handset location.",
    "current.outcomes": "Close the call without an incident",
    "screen.score": "Prank score",
    "screen.level.low": "low",
    "screen.level.medium": "medium",
    "screen.level.high": "high",
    "screen.no_reasons": "No screening notes.",
    "screen.unavailable": "Number screening not available yet.",
    "screen.permanent_requested": "A permanent block has been requested for this number.",
    "block.blocked": "NUMBER BLOCKED",
    "block.until": "until {time}",
    "block.permanent": "permanently",
    "block.reason": "Reason: {reason}",
    "block.still_answer": "The call can still be answered and handled if it is an emergency.",
    "history.title": "Number history",
    "history.none": "No earlier calls.",
    "form.title": "Incident",
    "form.category": "Category",
    "form.priority": "Priority",
    "form.choose": "— choose a category —",
    "form.lat": "Latitude",
    "form.lon": "Longitude",
    "form.map_hint": "Click the map to set the location, or type coordinates.",
    "form.map_label": "Map of Kota Serang: click to set the incident location",
    "form.description": "Description",
    "form.submit": "Submit & dispatch (Ctrl+Enter)",
    "form.need_category": "Choose an incident category.",
    "form.need_location": "Set the location: click the map or type a valid latitude and longitude.",
    "form.need_call": "Take the call first (caller number).",
    "form.network_retry": "Sending failed (network). Send again: it is safe and will not be recorded twice.",
    "dup.title": "Possible duplicates",
    "dup.idle": "Choose a category and location to check for similar incidents nearby.",
    "dup.unavailable": "Duplicate check is not available on this server yet.",
    "dup.none": "No similar incidents nearby.",
    "dup.found": "{n} similar incident(s) nearby — check before creating a new one.",
    "dup.score": "score",
    "dup.attach": "Attach to #{id}",
    "dup.need_call": "No active call to attach.",
    "dup.attached": "Call #{call} attached to incident #{id}.",
    "result.title": "Dispatch result",
    "result.none": "No incident sent from this call yet.",
    "result.created": "Incident #{id} created. Notified: {agencies}.",
    "result.agencies": "Agencies notified",
    "result.rule": "Rule",
    "result.ruleset": "version",
    "result.zone": "Zone",
    "open.title": "Open incidents",
    "open.none": "No open incidents.",
    "supervisor.title": "Supervisor",
    "map.title": "Incident map",
    "map.label": "Map of Kota Serang with open incidents",
    "alarms.title": "Alarms: dispatches not acknowledged",
    "alarms.none": "Every dispatch has been acknowledged.",
    "alarms.item": "{agency} has not acknowledged #{id} {category}",
    "alarms.escalated": "Escalation level {level}",
    "alarms.open": "Open",
    "alarms.announce": "Alarm: {agency} has not acknowledged incident #{id} for over 60 seconds.",
    "board.title": "Open incidents",
    "board.category": "Category",
    "board.place": "Zone",
    "board.agencies": "Agencies",
    "board.age": "Age",
    "board.empty": "No open incidents.",
    "board.select": "Select incident #{id}",
    "load.title": "Agency load (live assignments)",
    "selected.title": "Selected incident",
    "selected.none": "Select an incident on the board to see details and actions.",
    "selected.rule": "rule",
    "selected.callers": "Callers",
    "selected.agency": "Agency",
    "selected.role": "Role",
    "selected.status": "Status",
    "selected.cancel": "Cancel",
    "selected.note": "Action note",
    "selected.add": "Add agency",
    "selected.add_button": "Add",
    "selected.close": "Close / merge",
    "selected.reason": "Close reason",
    "selected.close_button": "Close incident",
    "selected.merge_into": "Merge into incident #",
    "selected.merge_button": "Merge",
    "selected.merge_invalid": "Enter the number of another incident.",
    "selected.timeline": "Timeline",
    "reason.resolved": "Resolved",
    "reason.duplicate": "Duplicate",
    "reason.prank": "Prank",
    "reason.unfounded": "Unfounded",
    "reason.referred": "Referred",
    "reason.cancelled": "Cancelled",
    "done.cancelled": "{agency}'s assignment on #{id} cancelled.",
    "done.added": "{agency} added to #{id}.",
    "done.closed": "Incident #{id} closed.",
    "done.merged": "Incident #{id} merged into #{into}.",
    "numbers.title": "Phone numbers",
    "numbers.phone": "Number",
    "numbers.lookup": "Look up",
    "numbers.reason": "Reason to block / unblock",
    "numbers.block": "Block",
    "numbers.unblock": "Unblock",
    "numbers.blocked": "Blocked",
    "numbers.not_blocked": "Not blocked",
    "numbers.score": "prank score",
    "numbers.calls": "{n} calls",
    "numbers.need": "Enter the number and a reason.",
    "numbers.done_block": "Number {phone} blocked.",
    "numbers.done_unblock": "Number {phone} unblocked.",
    "unit.s": "s",
    "kpi.title": "Today's KPIs",
    "kpi.processing": "Processing (answer → agency notified)",
    "kpi.acknowledge": "Agency acknowledgement",
    "kpi.answer": "Call answering",
    "kpi.response": "Response (on scene)",
    "kpi.compliance": "within target",
    "kpi.unavailable": "Statistics are not available on this server yet.",
    "kpi.loading": "Loading statistics…",
    "kpi.outcomes": "Calls per hour by outcome",
    "kpi.no_calls": "No calls today yet.",

    "opd.title": "Agency",
    "opd.enable_sound": "♪ Enable sound",
    "opd.assignments": "Active assignments",
    "opd.none": "No active assignments.",
    "opd.alert": "NEW DISPATCH — acknowledge now ({n}): {list}",
    "opd.place": "Location",
    "opd.role": "Role",
    "opd.dispatched_at": "Dispatched",
    "opd.description": "Description",
    "opd.caller": "Caller",
    "opd.units": "Nearest units",
    "opd.others": "Other agencies",
    "opd.note": "Note (required to decline)",
    "opd.decline_needs_note": "Write why you decline in the note: the incident is re-routed to the fallback agency.",
    "opd.update": "Update status",
    "opd.updated": "#{id}: {status}.",
    "opd.action.acknowledged": "✓ Acknowledge",
    "opd.action.en_route": "➜ En route",
    "opd.action.on_scene": "◉ On scene",
    "opd.action.resolved": "✔ Resolved",
    "opd.action.declined": "✗ Decline",
  },
};
