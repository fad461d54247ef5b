// The operator's console: the fleet as a paged, filtered list (state, site, text; the server
// pages and filters, so 10,000 chargers never reach the DOM), counts per state, an alerts
// panel, live connector status and today's bookings for the chargers shown, remote commands,
// recent transactions, and (manage.js) the forms for sites, tariffs, cards and bookings.
import {
  $, Client, LiveEvents, confirmDialog, debounce, formatDateTime, formatKwh, formatTime,
  formatWindow, h, isoDate, nextDay, plainMessage, setMessage, show, wallClock, zonedInstant,
} from "./api.js";
import { Manage } from "./manage.js";

const EXPIRED = "Your session expired. Please sign in again.";
const DAY_MS = 86400000;
const PAGE_SIZE = 50;
const ALERTS_PAGE = 20;
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

const client = new Client("csms.operator", { onUnauthenticated: () => showAuth(EXPIRED) });
const live = new LiveEvents(client, {
  open: () => onLiveOpen(),
  connector: (data) => onConnector(data),
  charge_point: (data) => onChargePoint(data),
  reservation: (data) => onReservation(data),
}, showLiveState);
const dialog = $("#confirm-dialog");
const confirm = (text, yes) => confirmDialog(dialog, text, yes);
const manage = new Manage(client, confirm, { sitesChanged: () => onSitesChanged() });

let sites = new Map();
let chargers = new Map(); // id → charge point of the page shown (connectors[] kept current)
let bookings = new Map(); // id → reservation around today (for the timelines)
let transactions = [];
let views = new Map(); // charger id → {article, badge, state, status, cells, timelines, lists}
let opened = 0;
let txTimer = null;
// The list: its filter, the cursors of the pages seen (to go back), and a request counter so
// that only the answer to the newest request is shown.
const filter = { state: "", siteId: "", q: "" };
let cursors = [null];
let pageIndex = 0;
let nextCursor = null;
let listRequest = 0;
let alertsCursor = null;

const CONNECTOR_TONES = {
  Available: "go", Preparing: "info", Charging: "info", SuspendedEV: "info", SuspendedEVSE: "info",
  Finishing: "info", Reserved: "warn", Unavailable: "off", Faulted: "bad",
};
const STATE_TONES = { online: "go", offline: "off", faulted: "bad", charging: "info", reserved: "warn" };
const STATE_LABELS = { online: "Online", offline: "Offline", faulted: "Faulted", charging: "Charging", reserved: "Reserved" };
const BOOKING_TONES = {
  booked: "done", active: "warn", charging: "info", completed: "off", expired: "off", failed: "bad",
  cancelled: "off",
};
const ALERT_LABELS = { faulted: "Faulted", offline: "Offline", booking_failed: "Booking failed" };

// ---- signing in ---------------------------------------------------------------------------

function showAuth(message) {
  live.stop();
  show($("#app"), false);
  show($("#who"), false);
  show($("#auth"));
  setMessage($("#notice"), message || "");
  setMessage($("#auth-error"), "");
  $("#password").value = "";
  $("#email").focus();
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  const error = $("#auth-error");
  if (!email || !password) {
    setMessage(error, "Enter your email and password.");
    return;
  }
  const button = event.currentTarget.querySelector("button");
  button.disabled = true;
  try {
    await client.signIn(email, password);
    setMessage(error, "");
    setMessage($("#notice"), "");
    await enterApp();
  } catch (failure) {
    setMessage(error, plainMessage(failure));
  } finally {
    button.disabled = false;
  }
}

async function enterApp() {
  show($("#auth"), false);
  $("#who-email").textContent = client.email || "";
  try {
    await loadAll();
  } catch (failure) {
    if (failure.status === 403) {
      client.forget();
      showAuth("This account is not an operator account. Sign in with an operator account.");
    } else if (failure.status !== 401) {
      show($("#auth"));
      setMessage($("#notice"), plainMessage(failure));
    }
    return;
  }
  show($("#app"));
  show($("#who"));
  renderChargers();
  renderTransactions();
  $("#chargers-title").focus({ preventScroll: true });
  opened = 0;
  live.start();
  manage.loadRest().catch(() => { /* each form says what failed when used */ });
}

async function signOut() {
  await client.signOut();
  showAuth("You are signed out.");
}

// ---- loading ------------------------------------------------------------------------------

async function loadAll() {
  await fetchPage(); // First: a 403 here means "not an operator" before anything else runs.
  await Promise.all([loadSites(), loadSummary(), loadAlerts(), loadBookings(), loadTransactions()]);
}

async function loadSites() {
  const items = await client.all("/api/v1/sites?limit=500", { maxPages: 20 });
  sites = new Map(items.map((s) => [s.id, s]));
  manage.showSites([...sites.values()]);
  fillSiteFilter();
}

function fillSiteFilter() {
  const select = $("#site-filter");
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, "All sites"),
    ...[...sites.values()].map((s) => h("option", { value: String(s.id) }, s.name)));
  select.value = sites.has(Number(chosen)) ? chosen : "";
  if (select.value !== chosen) filter.siteId = "";
}

function filterQuery({ withState = true } = {}) {
  const parts = [];
  if (withState && filter.state) parts.push(`state=${filter.state}`);
  if (filter.siteId) parts.push(`site_id=${encodeURIComponent(filter.siteId)}`);
  if (filter.q) parts.push(`q=${encodeURIComponent(filter.q)}`);
  return parts.join("&");
}

function pageQuery(cursor = cursors[pageIndex]) {
  const query = [`limit=${PAGE_SIZE}`, filterQuery()].filter(Boolean);
  if (cursor) query.push(`cursor=${encodeURIComponent(cursor)}`);
  return "/api/v1/charge-points?" + query.join("&");
}

// Fetch the page shown; false when a newer request overtook this one.
async function fetchPage() {
  const mine = ++listRequest;
  const answer = await client.request("GET", pageQuery());
  if (mine !== listRequest) return false;
  chargers = new Map(answer.items.map((c) => [c.id, c]));
  nextCursor = answer.next_cursor;
  return true;
}

async function loadSummary() {
  const query = filterQuery({ withState: false });
  const summary = await client.request("GET", "/api/v1/charge-points/summary" + (query ? "?" + query : ""));
  for (const element of document.querySelectorAll("[data-count]")) {
    const key = element.dataset.count;
    element.textContent = String(key === "total" ? summary.total : summary.by_state[key]);
  }
  const online = summary.total - summary.by_state.offline;
  $("#chargers-summary").textContent =
    `${summary.total} ${summary.total === 1 ? "charger" : "chargers"}, ${online} online`;
}

async function loadBookings() {
  // The timelines show today in each charger's zone: whatever overlaps a day either side.
  const from = new Date(Date.now() - DAY_MS).toISOString();
  const to = new Date(Date.now() + 2 * DAY_MS).toISOString();
  const items = await client.all(
    `/api/v1/reservations?all=true&limit=500&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    { maxPages: 4 });
  bookings = new Map(items.filter(overlapsToday).map((r) => [r.id, r]));
}

async function loadTransactions() {
  const answer = await client.request("GET", "/api/v1/transactions?limit=20");
  transactions = answer.items;
}

function zoneOf(chargePointId) {
  const charger = chargers.get(chargePointId);
  const site = charger && charger.site_id != null ? sites.get(charger.site_id) : null;
  return site ? site.timezone : "UTC";
}

function today(zone) {
  const date = isoDate(wallClock(Date.now(), zone));
  return { start: zonedInstant(date, "00:00", zone), end: zonedInstant(nextDay(date), "00:00", zone) };
}

function overlapsToday(r) {
  const day = today(r.timezone || zoneOf(r.charge_point_id));
  return Date.parse(r.start) < day.end && Date.parse(r.end) > day.start;
}

// ---- the list -----------------------------------------------------------------------------

// Apply the filter or page the user chose: fetch, then show (the newest answer only).
async function showPage() {
  const list = $("#chargers");
  list.dataset.loading = "true";
  try {
    if (!(await fetchPage())) return;
    setMessage($("#chargers-error"), "");
    renderChargers();
  } catch (failure) {
    if (failure.status !== 401) setMessage($("#chargers-error"), plainMessage(failure));
  } finally {
    delete list.dataset.loading;
  }
}

function refilter() {
  cursors = [null];
  pageIndex = 0;
  showPage();
  loadSummary().catch(() => { /* the counts stay as they were */ });
}

function renderChargers() {
  views = new Map();
  const cards = [...chargers.values()].map(chargerCard);
  const list = $("#chargers");
  list.replaceChildren(...cards);
  if (!cards.length) {
    const filtered = filter.state || filter.siteId || filter.q;
    list.append(h("p", { class: "hint", "data-role": "empty" },
      filtered ? "No charger matches this filter." : "No chargers registered yet."));
  }
  list.dataset.query = pageQuery();
  // How long the first screen took, for anyone measuring (performance.getEntriesByName).
  if (!performance.getEntriesByName("chargers-rendered").length) performance.mark("chargers-rendered");
  $("#page-prev").disabled = pageIndex === 0;
  $("#page-next").disabled = !nextCursor;
  const first = pageIndex * PAGE_SIZE + 1;
  $("#page-label").textContent = cards.length
    ? `Page ${pageIndex + 1}: chargers ${first}–${first + cards.length - 1}` : "";
}

function chargerCard(charger) {
  const zone = zoneOf(charger.id);
  const site = charger.site_id != null ? sites.get(charger.site_id) : null;
  const badge = h("span", { class: "badge", "data-role": "online" });
  const state = h("span", { class: "badge", "data-role": "state" });
  const status = h("span", { class: "charger-status" });
  const view = { article: null, badge, state, status, cells: new Map(), timelines: new Map(), lists: new Map() };
  views.set(charger.id, view);
  const slug = charger.id.replace(/[^A-Za-z0-9_-]/g, "_");
  const connectors = charger.connectors.filter((c) => c.connector_id > 0);
  const article = h("article", { class: "card charger", dataset: { chargePoint: charger.id }, "aria-labelledby": `cp-${slug}` },
    h("div", { class: "card-head" },
      h("h3", { id: `cp-${slug}` }, h("a", { href: `/operator/charge-points/${encodeURIComponent(charger.id)}` }, charger.id)),
      h("span", { class: "badges" }, state, badge)),
    h("p", { class: "charger-meta" },
      [site ? site.name : "No site", `${zone} time`, charger.vendor && `${charger.vendor} ${charger.model || ""}`.trim()]
        .filter(Boolean).join(" · "), " · ", status),
    connectors.map((c) => connectorRow(charger, c, view, zone)),
    commandPanel(charger, connectors, slug));
  view.article = article;
  paintOnline(charger);
  paintState(charger);
  paintChargerStatus(charger);
  return article;
}

function connectorRow(charger, connector, view, zone) {
  const cell = h("span", { class: "badge status-cell", "data-role": "connector-status" });
  view.cells.set(connector.connector_id, cell);
  const timeline = h("div", { class: "timeline", "aria-hidden": "true" }); // the list below says it in words
  const list = h("ul", { class: "day-list" });
  view.timelines.set(connector.connector_id, timeline);
  view.lists.set(connector.connector_id, list);
  const row = h("div", { class: "connector", dataset: { connector: String(connector.connector_id) } },
    h("div", { class: "connector-line" },
      h("span", { class: "name" }, `Connector ${connector.connector_id}`),
      h("span", { class: "tag" }, connector.connector_type || "?"),
      h("span", { class: "tag" }, connector.max_power_kw != null ? `${Number(connector.max_power_kw)} kW` : "? kW"),
      cell),
    timeline, list);
  paintConnector(charger.id, connector, false);
  paintTimeline(charger.id, connector.connector_id, zone);
  return row;
}

function paintOnline(charger) {
  const view = views.get(charger.id);
  if (!view) return;
  view.badge.textContent = charger.online ? "Online" : "Offline";
  view.badge.className = `badge ${charger.online ? "tone-go" : "tone-off"}`;
  view.article.dataset.online = String(Boolean(charger.online));
  for (const cell of view.cells.values()) cell.title = charger.online ? "" : "last status reported before the charger went offline";
}

function paintState(charger) {
  const view = views.get(charger.id);
  if (!view) return;
  view.state.textContent = STATE_LABELS[charger.state] || charger.state;
  view.state.className = `badge state tone-${STATE_TONES[charger.state] || "off"}`;
  view.article.dataset.state = charger.state;
}

function paintChargerStatus(charger) {
  const view = views.get(charger.id);
  if (!view) return;
  const error = charger.error_code && charger.error_code !== "NoError" ? ` (${charger.error_code})` : "";
  view.status.textContent = `charger: ${charger.status ? charger.status + error : "status unknown"}`;
}

function paintConnector(chargePointId, connector, flash) {
  const view = views.get(chargePointId);
  const cell = view && view.cells.get(connector.connector_id);
  if (!cell) return;
  const status = connector.status || "Unknown";
  const error = connector.error_code && connector.error_code !== "NoError" ? ` (${connector.error_code})` : "";
  cell.textContent = status + error;
  cell.dataset.status = status;
  cell.className = `badge status-cell tone-${CONNECTOR_TONES[status] || "off"}`;
  if (flash) {
    cell.classList.add("changed");
    setTimeout(() => cell.classList.remove("changed"), 1200);
  }
}

function paintTimeline(chargePointId, connectorId, zone = zoneOf(chargePointId)) {
  const view = views.get(chargePointId);
  const timeline = view && view.timelines.get(connectorId);
  if (!timeline) return;
  const list = view.lists.get(connectorId);
  const day = today(zone);
  const span = day.end - day.start;
  const items = [...bookings.values()]
    .filter((r) => r.charge_point_id === chargePointId && r.connector_id === connectorId && r.status !== "cancelled")
    .filter(overlapsToday)
    .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const blocks = items.map((r) => {
    const from = Math.max(Date.parse(r.start), day.start);
    const to = Math.min(Date.parse(r.end), day.end);
    const left = ((from - day.start) / span) * 100;
    const width = ((to - from) / span) * 100;
    const label = `${formatTime(r.start, zone)}–${formatTime(r.end, zone)} ${r.status}`;
    return h("span", {
      class: `block tone-${BOOKING_TONES[r.status] || "off"}`,
      title: `#${r.id} ${label}`, dataset: { id: String(r.id), left: left.toFixed(3), width: width.toFixed(3) },
    }, width >= 9 ? r.status : "");
  });
  const now = h("span", { class: "now", dataset: { left: (((Date.now() - day.start) / span) * 100).toFixed(3) } });
  const ticks = h("div", { class: "ticks", "aria-hidden": "true" }, ["0", "6", "12", "18", "24"].map((t) => h("span", {}, t)));
  timeline.replaceChildren(...blocks, now, ticks);
  // Positions are set through the CSSOM (no inline style attributes: the CSP forbids them).
  for (const element of timeline.querySelectorAll("[data-left]")) {
    element.style.left = element.dataset.left + "%";
    if (element.dataset.width) element.style.width = element.dataset.width + "%";
  }
  list.replaceChildren(...(items.length
    ? items.map((r) => h("li", { dataset: { id: String(r.id), status: r.status } },
      `${formatWindow(r.start, r.end, zone)} · `, h("span", { class: `badge tone-${BOOKING_TONES[r.status] || "off"}` }, r.status), ` · booking #${r.id}`,
      r.status_reason && r.status === "failed" ? ` (${r.status_reason})` : ""))
    : [h("li", { class: "hint" }, "No bookings today.")]));
}

// ---- alerts -------------------------------------------------------------------------------

async function loadAlerts(more = false) {
  const cursor = more && alertsCursor ? `&cursor=${encodeURIComponent(alertsCursor)}` : "";
  const answer = await client.request("GET", `/api/v1/alerts?limit=${ALERTS_PAGE}${cursor}`);
  alertsCursor = answer.next_cursor;
  const items = answer.items.map(alertItem);
  if (more) $("#alerts").append(...items);
  else $("#alerts").replaceChildren(...items);
  show($("#alerts-empty"), !more && items.length === 0);
  show($("#alerts-more"), Boolean(alertsCursor));
}

function alertItem(alert) {
  const where = alert.connector_id ? ` connector ${alert.connector_id}` : "";
  return h("li", { class: `alert kind-${alert.kind}`, dataset: { kind: alert.kind, chargePoint: alert.charge_point_id } },
    h("span", { class: `badge tone-${alert.kind === "offline" ? "off" : "bad"}` }, ALERT_LABELS[alert.kind] || alert.kind),
    " ", h("a", { href: `/operator/charge-points/${encodeURIComponent(alert.charge_point_id)}` }, alert.charge_point_id),
    where, " — ", alert.message, " ",
    h("time", { datetime: alert.since, class: "hint" }, `since ${formatDateTime(alert.since, BROWSER_ZONE)}`));
}

// ---- commands -----------------------------------------------------------------------------

function commandPanel(charger, connectors, slug) {
  const connectorSelect = h("select", { id: `cmd-connector-${slug}` },
    connectors.map((c) => h("option", { value: String(c.connector_id) }, `Connector ${c.connector_id}`)),
    h("option", { value: "0" }, "Whole charger (0)"));
  const idTag = h("input", { id: `cmd-tag-${slug}`, type: "text", maxlength: "20", autocomplete: "off", placeholder: "e.g. CARD-1" });
  const answer = h("p", { class: "answer", role: "status", "aria-live": "polite", hidden: true });
  const run = (label, build, ask) => async (event) => {
    const button = event.currentTarget;
    const connectorId = Number(connectorSelect.value);
    let request;
    try {
      request = await build(connectorId, idTag.value.trim());
    } catch (failure) {
      report(answer, `${label}: ${failure instanceof Error && !failure.status ? failure.message : plainMessage(failure)}`, false);
      return;
    }
    if (ask && !(await confirm(ask, label))) {
      report(answer, `${label}: not sent.`, null);
      return;
    }
    button.disabled = true;
    report(answer, `${label}: waiting for ${charger.id}…`, null);
    try {
      const reply = await client.request("POST",
        `/api/v1/charge-points/${encodeURIComponent(charger.id)}/commands/${request.action}`, request.payload);
      const status = reply && reply.status ? reply.status : JSON.stringify(reply);
      const ok = ["Accepted", "Unlocked", "Scheduled"].includes(status);
      report(answer, `${label}: ${charger.id} answered ${status}`, ok);
    } catch (failure) {
      if (failure.status !== 401) report(answer, `${label}: ${plainMessage(failure)}`, false);
    } finally {
      button.disabled = false;
    }
  };
  const needConnector = (connectorId, what) => {
    if (connectorId < 1) throw new Error(`choose a connector to ${what}.`);
  };
  const buttons = [
    ["Unlock", (id) => { needConnector(id, "unlock"); return { action: "UnlockConnector", payload: { connectorId: id } }; }],
    ["Make available", (id) => ({ action: "ChangeAvailability", payload: { connectorId: id, type: "Operative" } })],
    ["Make unavailable", (id) => ({ action: "ChangeAvailability", payload: { connectorId: id, type: "Inoperative" } })],
    ["Start charging", (id, tag) => {
      if (!tag) throw new Error("enter the ID tag to start charging with.");
      return { action: "RemoteStartTransaction", payload: id > 0 ? { idTag: tag, connectorId: id } : { idTag: tag } };
    }],
    ["Stop charging", async (id) => {
      const open = await client.request("GET", `/api/v1/transactions?open=true&charge_point_id=${encodeURIComponent(charger.id)}`);
      const running = open.items.filter((t) => id === 0 || t.connector_id === id);
      if (!running.length) throw new Error(`no transaction is running on ${id ? "connector " + id : "this charger"}.`);
      if (running.length > 1) throw new Error("several transactions are running: choose their connector.");
      return { action: "RemoteStopTransaction", payload: { transactionId: running[0].id } };
    }],
    ["Soft reset", () => ({ action: "Reset", payload: { type: "Soft" } })],
    ["Hard reset", () => ({ action: "Reset", payload: { type: "Hard" } }),
      `Hard reset ${charger.id}? It restarts at once and any charging session on it stops.`],
  ];
  return h("details", { class: "commands" },
    h("summary", {}, `Commands for ${charger.id}`),
    h("div", { class: "command-grid" },
      h("div", {}, h("label", { for: connectorSelect.id }, "Connector"), connectorSelect),
      h("div", {}, h("label", { for: idTag.id }, "ID tag (for start charging)"), idTag),
      buttons.map(([label, build, ask]) => h("button", { type: "button", class: "small", onclick: run(label, build, ask) }, label))),
    answer);
}

function report(element, text, ok) {
  element.textContent = text;
  element.className = "answer" + (ok === true ? " ok" : ok === false ? " bad" : "");
  element.hidden = false;
}

// ---- transactions -------------------------------------------------------------------------

function renderTransactions() {
  const body = $("#tx-body");
  show($("#tx-empty"), transactions.length === 0);
  show($("#tx-table"), transactions.length > 0);
  body.replaceChildren(...transactions.map((t) => {
    const zone = zoneOf(t.charge_point_id);
    const energy = t.energy_wh != null ? formatKwh(Number(t.energy_wh) / 1000) : "—";
    // A booked session's idTag is its code: show the booking, not the code.
    const who = t.reservation_id != null ? `booking #${t.reservation_id}` : t.id_tag;
    return h("tr", { dataset: { id: String(t.id) } },
      h("td", { "data-label": "#" }, String(t.id)),
      h("td", { "data-label": "Charger" }, `${t.charge_point_id} / ${t.connector_id}`),
      h("td", { "data-label": "Started" }, formatDateTime(t.started_at, zone)),
      h("td", { "data-label": "Stopped" }, t.stopped_at ? formatDateTime(t.stopped_at, zone) : h("span", { class: "badge tone-done" }, "running")),
      h("td", { "data-label": "Energy", class: "num" }, energy),
      h("td", { "data-label": "Stop reason" }, t.stop_reason || (t.stopped_at ? "—" : "")),
      h("td", { "data-label": "Started by" }, who));
  }));
}

function refreshTransactionsSoon() {
  clearTimeout(txTimer);
  txTimer = setTimeout(async () => {
    try {
      await loadTransactions();
      renderTransactions();
    } catch (failure) { /* the next event tries again */ }
  }, 400);
}

// ---- live events --------------------------------------------------------------------------

async function onLiveOpen() {
  opened += 1;
  if (opened === 1) return;
  // Back after a break: what changed meanwhile was not pushed, so read it all again.
  try {
    await loadAll();
    renderChargers();
    renderTransactions();
  } catch (failure) { /* 401 handled by the client; otherwise keep what is shown */ }
}

// A change anywhere in the fleet moves the counts and maybe the alerts; the chargers shown get
// their state again (in place: an open command panel and its answer stay).
const refreshOverview = debounce(async () => {
  try {
    await Promise.all([loadSummary(), loadAlerts(), refreshShownStates()]);
  } catch (failure) { /* the next event tries again */ }
}, 600);

async function refreshShownStates() {
  if (!chargers.size) return;
  const answer = await client.request("GET", pageQuery());
  for (const fresh of answer.items) {
    const shown = chargers.get(fresh.id);
    if (!shown) continue;
    shown.state = fresh.state;
    shown.online = fresh.online;
    paintState(shown);
    paintOnline(shown);
  }
}

function onConnector(event) {
  refreshOverview();
  const charger = chargers.get(event.charge_point_id);
  if (!charger) return; // not on the page shown
  const state = { status: event.status, error_code: event.error_code, status_at: event.status_at };
  if (event.connector_id === 0) { // The charger as a whole.
    Object.assign(charger, state);
    paintChargerStatus(charger);
    return;
  }
  const connector = charger.connectors.find((c) => c.connector_id === event.connector_id);
  if (!connector) return; // reported but never registered: the detail page shows it
  const changed = connector.status !== event.status;
  Object.assign(connector, state);
  paintConnector(charger.id, connector, changed);
  if (changed) {
    announce(`${charger.id} connector ${event.connector_id}: ${event.status}`);
    refreshTransactionsSoon();
  }
}

function onChargePoint(event) {
  refreshOverview();
  const charger = chargers.get(event.charge_point_id);
  if (!charger) return;
  charger.online = event.online;
  paintOnline(charger);
  announce(`${charger.id} is ${event.online ? "online" : "offline"}`);
}

async function onReservation(event) {
  manage.bookingChanged(event);
  if (event.status === "failed") refreshOverview();
  if (!chargers.has(event.charge_point_id)) return;
  const before = bookings.get(event.id);
  let reservation;
  try {
    reservation = await client.request("GET", `/api/v1/reservations/${event.id}`);
  } catch (failure) {
    return;
  }
  if (overlapsToday(reservation)) bookings.set(reservation.id, reservation);
  else bookings.delete(reservation.id);
  paintTimeline(reservation.charge_point_id, reservation.connector_id);
  if (before && (before.charge_point_id !== reservation.charge_point_id || before.connector_id !== reservation.connector_id)) {
    paintTimeline(before.charge_point_id, before.connector_id);
  }
  if (["charging", "completed"].includes(reservation.status)) refreshTransactionsSoon();
}

async function onSitesChanged() {
  try {
    await loadSites();
    renderChargers();
  } catch (failure) { /* keep what is shown */ }
}

// Keep the "now" line and the day's timelines current.
setInterval(() => {
  if ($("#app").hidden) return;
  for (const [id, view] of views) for (const connectorId of view.timelines.keys()) paintTimeline(id, connectorId);
}, 60000);

function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function showLiveState(state) {
  const badge = $("#live-state");
  badge.dataset.state = state;
  badge.textContent = { live: "Live", connecting: "Connecting…", offline: "Offline" }[state];
  badge.title = state === "live" ? "Updates arrive as they happen" : "Live updates are paused";
}

// ---- wiring -------------------------------------------------------------------------------

for (const chip of document.querySelectorAll(".state-filter .chip")) {
  chip.addEventListener("click", () => {
    filter.state = chip.dataset.state;
    for (const other of document.querySelectorAll(".state-filter .chip")) {
      other.setAttribute("aria-pressed", String(other === chip));
    }
    refilter();
  });
}
$("#site-filter").addEventListener("change", (event) => {
  filter.siteId = event.currentTarget.value;
  refilter();
});
const onText = debounce(() => {
  const q = $("#charger-filter").value.trim();
  if (q === filter.q) return;
  filter.q = q;
  refilter();
}, 100);
$("#charger-filter").addEventListener("input", onText);
$("#page-next").addEventListener("click", () => {
  if (!nextCursor) return;
  cursors = cursors.slice(0, pageIndex + 1).concat([nextCursor]);
  pageIndex += 1;
  showPage();
});
$("#page-prev").addEventListener("click", () => {
  if (pageIndex === 0) return;
  pageIndex -= 1;
  showPage();
});
$("#alerts-more").addEventListener("click", () => loadAlerts(true).catch(() => {}));
$("#alerts-refresh").addEventListener("click", () => loadAlerts().catch(() => {}));
$("#auth-form").addEventListener("submit", onAuthSubmit);
$("#sign-out").addEventListener("click", signOut);
$("#tx-refresh").addEventListener("click", async () => {
  try {
    await loadTransactions();
    renderTransactions();
  } catch (failure) { /* 401 handled by the client */ }
});

if (client.token) enterApp();
else showAuth();
