// The driver's page: sign up / sign in, search a window in the site's time, book with one
// click, see the code, and follow "my reservations" live.
import {
  $, Client, LiveEvents, durationText, formatKwh, formatMoney, formatTime,
  formatWindow, h, hhmm, isoDate, nextDay, plainMessage, randomKey, rfc3339, setMessage, show,
  wallClock, zoneLabel, zonedInstant,
} from "./api.js";

const EXPIRED = "Your session expired. Please sign in again.";
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const PLACES_KEY = "csms.driver.places"; // charger id → {name, timezone} seen in searches

const client = new Client("csms.driver", { onUnauthenticated: () => showAuth(EXPIRED) });
const live = new LiveEvents(client, {
  open: () => loadReservations(),
  reservation: (data) => refreshReservation(data.id, true),
  meter: (data) => refreshReservation(data.reservation_id, false),
}, showLiveState);

let sites = [];
let reservations = new Map();
let lastSearch = null;
let liveState = "offline";
const refreshing = new Map();
const confirming = new Set(); // reservations whose "Cancel booking" asks "are you sure?"
const itemErrors = new Map(); // reservation id → what went wrong with the last action on it

const STATUS = {
  booked: { label: "Booked", tone: "info" },
  active: { label: "Ready at the charger", tone: "info" },
  charging: { label: "Charging", tone: "go" },
  completed: { label: "Completed", tone: "done" },
  cancelled: { label: "Cancelled", tone: "off" },
  expired: { label: "Expired", tone: "off" },
  failed: { label: "Failed", tone: "bad" },
};

// ---- signing in ---------------------------------------------------------------------------

function showAuth(message) {
  live.stop();
  reservations = new Map();
  confirming.clear();
  itemErrors.clear();
  $("#reservation-list").replaceChildren();
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
  const signUp = event.submitter && event.submitter.value === "sign-up";
  const email = $("#email").value.trim();
  const password = $("#password").value;
  const error = $("#auth-error");
  if (!email || !password) {
    setMessage(error, "Enter your email and a password.");
    return;
  }
  if (signUp && password.length < 8) {
    setMessage(error, "Choose a password of at least 8 characters.");
    $("#password").focus();
    return;
  }
  const buttons = event.currentTarget.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    if (signUp) await client.signUp(email, password);
    else await client.signIn(email, password);
    setMessage(error, "");
    setMessage($("#notice"), "");
    await enterApp();
  } catch (failure) {
    setMessage(error, plainMessage(failure));
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function enterApp() {
  show($("#auth"), false);
  show($("#app"));
  $("#who-email").textContent = client.email || "";
  show($("#who"));
  show($("#results"), false);
  show($("#confirmation"), false);
  try {
    await loadSites();
  } catch (failure) {
    if (failure.status !== 401) setMessage($("#search-error"), plainMessage(failure));
    if (failure.status === 401) return;
  }
  $("#search-title").focus({ preventScroll: true });
  live.start();
}

async function signOut() {
  await client.signOut();
  showAuth("You are signed out.");
}

// ---- sites, zones and the window ----------------------------------------------------------

async function loadSites() {
  const answer = await client.request("GET", "/api/v1/sites?limit=500");
  sites = answer.items;
  const select = $("#site");
  const zones = new Set(sites.map((s) => s.timezone));
  const options = [];
  if (sites.length > 1 && zones.size === 1) options.push(h("option", { value: "" }, "Any site"));
  for (const site of sites) options.push(h("option", { value: String(site.id) }, site.name));
  if (!sites.length) options.push(h("option", { value: "" }, "No charging sites yet"));
  select.replaceChildren(...options);
  setDefaultWindow();
}

function selectedSite() {
  const id = $("#site").value;
  return sites.find((s) => String(s.id) === id) || null;
}

// The zone the window is chosen in: the selected site's (all sites share it for "Any site").
function currentZone() {
  const site = selectedSite() || sites[0];
  return site ? site.timezone : BROWSER_ZONE;
}

function setDefaultWindow() {
  const zone = currentZone();
  const step = 5 * 60000;
  const start = Math.ceil(Date.now() / step) * step;
  const from = wallClock(start, zone);
  const until = wallClock(start + 3600000, zone);
  $("#date").value = isoDate(from);
  $("#start").value = hhmm(from);
  $("#end").value = hhmm(until);
  describeWindow();
}

// The chosen window as instants, or a message saying what is missing.
function chosenWindow() {
  const zone = currentZone();
  const date = $("#date").value;
  const start = $("#start").value;
  const end = $("#end").value;
  if (!date || !start || !end) return { error: "Choose a date, a start time and an end time." };
  const startMs = zonedInstant(date, start, zone);
  let endMs = zonedInstant(date, end, zone);
  let nextDayEnd = false;
  if (end <= start) {
    endMs = zonedInstant(nextDay(date), end, zone);
    nextDayEnd = true;
  }
  return { zone, startMs, endMs, nextDayEnd };
}

function describeWindow() {
  const zone = currentZone();
  $("#zone-note").textContent = `Times are in ${zoneLabel(zone)}.`;
  const window = chosenWindow();
  if (window.error) {
    $("#window-note").textContent = "";
    return;
  }
  const text = `${formatWindow(window.startMs, window.endMs, zone)} (${durationText(window.endMs - window.startMs)})`;
  $("#window-note").textContent = window.nextDayEnd ? `${text}, ending the next day` : text;
}

// ---- search -------------------------------------------------------------------------------

async function onSearch(event) {
  event.preventDefault();
  await search({ focus: true });
}

async function search({ focus = false, keepError = false } = {}) {
  const error = $("#search-error");
  if (!keepError) setMessage(error, "");
  const window = chosenWindow();
  if (window.error) {
    setMessage(error, window.error);
    return;
  }
  const params = new URLSearchParams({ start: rfc3339(window.startMs), end: rfc3339(window.endMs) });
  const site = selectedSite();
  if (site) params.set("site_id", String(site.id));
  const type = $("#connector-type").value.trim();
  if (type) params.set("connector_type", type);
  const power = $("#min-power").value.trim();
  if (power) params.set("min_power_kw", power);
  const energy = $("#energy").value.trim();
  if (energy) params.set("energy_kwh", energy);
  const button = $("#search-form button[type=submit]");
  button.disabled = true;
  button.textContent = "Searching…";
  try {
    const answer = await client.request("GET", "/api/v1/availability?" + params.toString());
    lastSearch = { window, answer };
    rememberPlaces(answer.connectors);
    renderResults(answer, window);
    show($("#confirmation"), false);
    if (focus) $("#results-title").focus();
  } catch (failure) {
    if (failure.status !== 401) setMessage(error, plainMessage(failure));
    show($("#results"), false);
  } finally {
    button.disabled = false;
    button.textContent = "Find free chargers";
  }
}

function renderResults(answer, window) {
  const list = $("#result-list");
  const count = answer.connectors.length;
  const when = `${formatWindow(window.startMs, window.endMs, window.zone)} (${window.zone})`;
  $("#results-summary").textContent = count
    ? `${count} ${count === 1 ? "connector is" : "connectors are"} free for ${when}.`
    : `Nothing is free for the whole of ${when}. Try another time, another site or fewer options.`;
  list.replaceChildren(...answer.connectors.map((c) => resultCard(c, window)));
  show($("#results"));
}

function resultCard(connector, window) {
  const price = connector.price;
  const zone = connector.site.timezone;
  const title = `${connector.charge_point_id} · connector ${connector.connector_id}`;
  const headingId = `result-${connector.charge_point_id}-${connector.connector_id}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const key = randomKey(); // One key per offer: a retried click cannot book twice.
  const periods = price.periods.map((p) => {
    const parts = [`${formatTime(p.start, zone)}–${formatTime(p.end, zone)}`,
      `${formatMoney(p.energy_price_per_kwh, price.currency)} per kWh`];
    if (Number(p.time_price_per_hour) > 0) parts.push(`${formatMoney(p.time_price_per_hour, price.currency)} per hour`);
    return h("li", {}, parts.join(" · "));
  });
  const button = h("button", {
    type: "button", class: "primary book", "aria-describedby": headingId,
    onclick: () => book(connector, window, key, button),
  }, "Book");
  return h("li", { class: "card result", dataset: { chargePoint: connector.charge_point_id, connector: String(connector.connector_id) } },
    h("h3", { id: headingId }, title),
    h("p", { class: "meta" },
      h("span", { class: "tag" }, connector.connector_type),
      h("span", { class: "tag" }, `${Number(connector.max_power_kw)} kW`),
      h("span", {}, connector.site.name)),
    h("p", { class: "estimate" },
      h("strong", {}, `About ${formatMoney(price.estimate.total, price.currency)}`),
      ` for ${formatKwh(price.estimate.energy_kwh)}`),
    h("p", { class: "hint" }, "Energy price in this window:"),
    h("ul", { class: "periods" }, periods),
    h("p", { class: "hint" },
      `Includes a booking fee of ${formatMoney(price.reservation_fee, price.currency)} and a session fee of ${formatMoney(price.session_fee, price.currency)}.`),
    h("div", { class: "actions" }, button));
}

// ---- booking ------------------------------------------------------------------------------

async function book(connector, window, key, button) {
  const error = $("#search-error");
  setMessage(error, "");
  button.disabled = true;
  button.textContent = "Booking…";
  try {
    const reservation = await client.request("POST", "/api/v1/reservations", {
      charge_point_id: connector.charge_point_id,
      connector_id: connector.connector_id,
      start: rfc3339(window.startMs),
      end: rfc3339(window.endMs),
    }, { headers: { "Idempotency-Key": key } });
    reservations.set(reservation.id, reservation);
    renderReservations();
    showConfirmation(reservation, connector);
  } catch (failure) {
    button.disabled = false;
    button.textContent = "Book";
    if (failure.status === 401) return;
    if (failure.code === "slot_taken") {
      setMessage(error, `Sorry, someone else just booked ${connector.charge_point_id} connector ${connector.connector_id} for this time. The list below shows what is still free.`);
      await search({ keepError: true });
      $("#search-error").scrollIntoView({ block: "center" });
      return;
    }
    setMessage(error, plainMessage(failure));
    error.scrollIntoView({ block: "center" });
  }
}

function showConfirmation(reservation, connector) {
  const zone = connector.site.timezone;
  const price = reservation.price || connector.price;
  $("#code").textContent = reservation.code;
  const facts = [
    ["Charger", `${reservation.charge_point_id}, connector ${reservation.connector_id}`],
    ["Connector", `${connector.connector_type}, ${Number(connector.max_power_kw)} kW`],
    ["Where", connector.site.name],
    ["When", `${formatWindow(reservation.start, reservation.end, zone)} (${zone})`],
    ["Price", `About ${formatMoney(price.estimate.total, price.currency)} for ${formatKwh(price.estimate.energy_kwh)}`],
    ["Booking", `#${reservation.id}`],
  ];
  $("#confirmation-details").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  show($("#results"), false);
  show($("#confirmation"));
  $("#confirmation-title").focus();
  $("#confirmation").scrollIntoView({ block: "start" });
  announce(`Booked. Your code is ${reservation.code.split("").join(" ")}.`);
}

// ---- my reservations ----------------------------------------------------------------------

async function loadReservations() {
  try {
    const answer = await client.request("GET", "/api/v1/reservations?limit=50");
    reservations = new Map(answer.items.map((r) => [r.id, r]));
    renderReservations();
  } catch (failure) {
    if (failure.status !== 401) announce(plainMessage(failure));
  }
}

// Fetch one reservation again (after a live event); one request at a time per reservation.
async function refreshReservation(id, announceChange) {
  if (refreshing.has(id)) {
    refreshing.set(id, { again: true, announceChange: announceChange || refreshing.get(id).announceChange });
    return;
  }
  refreshing.set(id, { again: false, announceChange });
  try {
    const before = reservations.get(id);
    const after = await client.request("GET", `/api/v1/reservations/${id}`);
    reservations.set(id, after);
    renderReservation(after);
    if (announceChange && (!before || before.status !== after.status)) {
      announce(`Reservation at ${after.charge_point_id} connector ${after.connector_id}: ${describeStatus(after)}`);
    }
  } catch (failure) {
    if (failure.status !== 401 && failure.status !== 404) announce(plainMessage(failure));
  } finally {
    const state = refreshing.get(id);
    refreshing.delete(id);
    if (state && state.again) refreshReservation(id, state.announceChange);
  }
}

function renderReservations() {
  const focus = focusedRole();
  const sorted = [...reservations.values()].sort((a, b) => b.id - a.id);
  $("#reservation-list").replaceChildren(...sorted.map(reservationItem));
  show($("#mine-empty"), sorted.length === 0);
  if (focus) restoreFocus(document.querySelector(`#reservation-list li[data-id="${focus.id}"]`), focus.role);
}

// Which control of which reservation has the focus (kept across live re-renders).
function focusedRole() {
  const active = document.activeElement;
  const item = active && active.closest && active.closest("#reservation-list li[data-id]");
  if (!item) return null;
  return { id: item.dataset.id, role: active.dataset.role || "heading" };
}

function restoreFocus(item, role) {
  if (!item) return;
  const target = item.querySelector(`[data-role="${role}"]`) || item.querySelector("h3");
  target.focus({ preventScroll: true });
}

function renderReservation(reservation) {
  const existing = document.querySelector(`#reservation-list li[data-id="${reservation.id}"]`);
  if (!existing) {
    renderReservations();
    return;
  }
  const focus = focusedRole();
  const item = reservationItem(reservation);
  existing.replaceWith(item);
  if (focus && focus.id === String(reservation.id)) restoreFocus(item, focus.role);
}

function describeStatus(r) {
  const tx = r.transaction || {};
  switch (r.status) {
    case "booked":
      if (r.status_reason && /trying again/.test(r.status_reason)) {
        return `Booked — ${r.status_reason}.`; // e.g. "the charger is offline; trying again"
      }
      return Date.parse(r.start) <= Date.now()
        ? "Booked — getting the charger ready for you…"
        : `Booked — the connector is held for you from ${formatTime(r.start, placeOf(r.charge_point_id).timezone)}.`;
    case "active": return "The connector is held for you. Type your code at the charger to start.";
    case "charging": return `Charging — ${formatKwh(tx.energy_kwh || r.energy_kwh || 0)} so far.`;
    case "completed": {
      const cost = r.cost || tx.cost;
      const currency = (r.price && r.price.currency) || "";
      const energy = r.energy_kwh || tx.energy_kwh;
      return `Completed — ${formatKwh(energy || 0)}` + (cost ? `, cost ${formatMoney(cost, currency)}.` : ".");
    }
    case "cancelled": return `Cancelled${r.status_reason ? ` (${r.status_reason})` : ""}.`;
    case "expired": return "Expired — the window ended without charging.";
    case "failed": return `Failed: ${r.status_reason || "the charger could not take the booking"}.`;
    default: return r.status;
  }
}

function placeOf(chargePointId) {
  const known = loadPlaces()[chargePointId];
  if (known) return known;
  const zones = new Set(sites.map((s) => s.timezone));
  if (zones.size === 1) return { name: sites.length === 1 ? sites[0].name : "", timezone: [...zones][0] };
  return { name: "", timezone: BROWSER_ZONE };
}

function reservationItem(r) {
  const status = STATUS[r.status] || { label: r.status, tone: "info" };
  const place = placeOf(r.charge_point_id);
  const showCode = ["booked", "active", "charging"].includes(r.status) && r.code;
  const item = h("li", { class: `card reservation status-${r.status}`, dataset: { id: String(r.id), status: r.status } },
    h("div", { class: "card-head" },
      h("h3", { tabindex: "-1" }, `${r.charge_point_id} · connector ${r.connector_id}`),
      h("span", { class: `badge tone-${status.tone}`, "data-role": "status" }, status.label)),
    h("p", { class: "when" }, `${formatWindow(r.start, r.end, place.timezone)} (${place.timezone})`,
      place.name ? ` · ${place.name}` : ""),
    showCode ? h("p", { class: "code-line" }, "Code ", h("span", { class: "code small" }, r.code)) : null,
    h("p", { class: "detail" }, describeStatus(r)));
  if (["booked", "active"].includes(r.status)) item.append(cancelControls(r));
  else if (itemErrors.has(r.id)) item.append(h("p", { class: "error", role: "alert" }, itemErrors.get(r.id)));
  return item;
}

function cancelControls(r) {
  const box = h("div", { class: "actions" });
  const error = itemErrors.get(r.id);
  if (error) box.append(h("p", { class: "error", role: "alert" }, error));
  if (!confirming.has(r.id)) {
    box.append(h("button", { type: "button", "data-role": "cancel", onclick: () => {
      confirming.add(r.id);
      itemErrors.delete(r.id);
      rerender(r.id, "cancel-yes");
    } }, "Cancel booking"));
    return box;
  }
  box.append(
    h("span", { class: "question" }, "Cancel this booking?"),
    h("button", { type: "button", class: "danger", "data-role": "cancel-yes", onclick: (event) => cancel(r.id, event.currentTarget) }, "Yes, cancel it"),
    h("button", { type: "button", "data-role": "cancel-no", onclick: () => {
      confirming.delete(r.id);
      rerender(r.id, "cancel");
    } }, "Keep it"));
  return box;
}

function rerender(id, focusRole) {
  const reservation = reservations.get(id);
  if (!reservation) return;
  renderReservation(reservation);
  const item = document.querySelector(`#reservation-list li[data-id="${id}"]`);
  const target = item && (item.querySelector(`[data-role="${focusRole}"]`) || item.querySelector("h3"));
  if (target) target.focus();
}

async function cancel(id, button) {
  button.disabled = true;
  try {
    const after = await client.request("DELETE", `/api/v1/reservations/${id}`);
    confirming.delete(id);
    reservations.set(after.id, after);
    rerender(id, "heading");
    announce(`Booking at ${after.charge_point_id} connector ${after.connector_id} cancelled.`);
  } catch (failure) {
    if (failure.status === 401) return;
    confirming.delete(id);
    itemErrors.set(id, plainMessage(failure));
    await refreshReservation(id, true);
    rerender(id, "cancel");
  }
}

// ---- small things -------------------------------------------------------------------------

function loadPlaces() {
  try { return JSON.parse(localStorage.getItem(PLACES_KEY) || "{}"); } catch (error) { return {}; }
}

function rememberPlaces(connectors) {
  const places = loadPlaces();
  for (const c of connectors) places[c.charge_point_id] = { name: c.site.name, timezone: c.site.timezone };
  try { localStorage.setItem(PLACES_KEY, JSON.stringify(places)); } catch (error) { /* full: fine */ }
}

function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function showLiveState(state) {
  liveState = state;
  const badge = $("#live-state");
  badge.dataset.state = state;
  badge.textContent = { live: "Live", connecting: "Connecting…", offline: "Offline" }[state];
}

// A slow safety net: when the live stream is down, look every 30 s.
setInterval(() => {
  if (client.token && liveState !== "live" && !$("#app").hidden) loadReservations();
}, 30000);

$("#auth-form").addEventListener("submit", onAuthSubmit);
$("#search-form").addEventListener("submit", onSearch);
$("#sign-out").addEventListener("click", signOut);
$("#confirmation-done").addEventListener("click", () => {
  show($("#confirmation"), false);
  $("#search-title").focus();
});
for (const id of ["#date", "#start", "#end"]) $(id).addEventListener("input", describeWindow);
$("#site").addEventListener("change", describeWindow);

if (client.token) enterApp();
else showAuth();

