// The driver page's search: a window in the site's time, optionally near the driver (the
// browser's location) or near a typed place (coordinates, or a site's name or address); the
// free connectors with their distance, price and booking terms, one page at a time; booking.
import {
  $, durationText, formatKwh, formatMoney, formatTime, formatWindow, h, hhmm, isoDate, nextDay,
  plainMessage, randomKey, rfc3339, setMessage, show, wallClock, zoneLabel, zonedInstant,
} from "./api.js";
import {
  BROWSER_ZONE, announce, distanceText, rememberPlaces, siteById, state, termsSentences,
} from "./driver-shared.js";

const MY_LOCATION = "My location";
const PAGE_SIZE = 20; // connectors per page of results ("Show more" fetches the next)
let hooks = { booked: () => {}, calendar: null };
let lastSearch = null; // {window, params, origin, connectors, nextCursor}
let located = null; // {lat, lon}: where the browser said the driver is (for "My location")

export function setupSearch(options) {
  hooks = { ...hooks, ...options };
  $("#search-form").addEventListener("submit", onSearch);
  $("#near-me").addEventListener("click", nearMe);
  $("#show-more").addEventListener("click", showMore);
  $("#place").addEventListener("input", () => {
    setMessage($("#place-error"), "");
    $("#place-note").textContent = "";
  });
  $("#confirmation-done").addEventListener("click", () => {
    show($("#confirmation"), false);
    $("#search-title").focus();
  });
  for (const id of ["#date", "#start", "#end"]) $(id).addEventListener("input", describeWindow);
  $("#site").addEventListener("change", describeWindow);
}

export function resetSearch() {
  lastSearch = null;
  show($("#results"), false);
  show($("#confirmation"), false);
}

// ---- sites, zones and the window ----------------------------------------------------------

export async function loadSites() {
  const answer = await state.client.request("GET", "/api/v1/sites?limit=500");
  state.sites = answer.items;
  const sites = state.sites;
  const zones = new Set(sites.map((s) => s.timezone));
  const options = [];
  if (sites.length > 1 && zones.size === 1) options.push(h("option", { value: "" }, "Any site"));
  for (const site of sites) options.push(h("option", { value: String(site.id) }, site.name));
  if (!sites.length) options.push(h("option", { value: "" }, "No charging sites yet"));
  $("#site").replaceChildren(...options);
  $("#place-names").replaceChildren(...sites.filter(hasCoordinates).map((s) => h("option", { value: s.name })));
  setDefaultWindow();
}

// Sites again, quietly (their terms may have changed since the page was opened).
async function refreshSites() {
  try {
    const answer = await state.client.request("GET", "/api/v1/sites?limit=500");
    state.sites = answer.items;
  } catch (error) { /* the list loaded at sign-in is still there */ }
}

// Sites of these connectors that answered without terms and are not loaded yet: fetched one by
// one (a list of more than 500 sites), so the terms can be shown before booking.
async function ensureSites(connectors) {
  const missing = [...new Set(connectors.filter((c) => !c.site.terms && !siteById(c.site.id)).map((c) => c.site.id))];
  const found = await Promise.all(missing.map((id) => state.client.request("GET", `/api/v1/sites/${id}`).catch(() => null)));
  state.sites.push(...found.filter(Boolean));
}

function hasCoordinates(site) {
  return site.latitude !== null && site.latitude !== undefined && site.longitude !== null && site.longitude !== undefined;
}

function selectedSite() {
  const id = $("#site").value;
  return state.sites.find((s) => String(s.id) === id) || null;
}

// The zone the window is chosen in: the selected site's (all sites share it for "Any site").
function currentZone() {
  const site = selectedSite() || state.sites[0];
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

// ---- where: near me, or near a typed place -------------------------------------------------

const COORDINATES = /^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$/;

// The place typed: {lat, lon, label}, null for none, or {error}.
function typedPlace() {
  const text = $("#place").value.trim();
  if (!text) return null;
  if (text === MY_LOCATION) {
    return located ? { ...located, label: "your location" } : { error: "Press “Near me” to search near where you are." };
  }
  const match = COORDINATES.exec(text);
  if (match) {
    const lat = Number(match[1]);
    const lon = Number(match[2]);
    if (Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return { error: "Those coordinates are not on the map: latitude is −90 to 90, longitude −180 to 180." };
    }
    return { lat, lon, label: `${lat}, ${lon}` };
  }
  const wanted = text.toLowerCase();
  const matches = state.sites.filter((s) => hasCoordinates(s)
    && (s.name.toLowerCase().includes(wanted) || (s.address || "").toLowerCase().includes(wanted)));
  if (!matches.length) {
    return { error: `No site we know matches “${text}”. Type part of a site's name or address, or coordinates such as 52.52, 13.40.` };
  }
  const exact = matches.find((s) => s.name.toLowerCase() === wanted) || matches[0];
  return { lat: exact.latitude, lon: exact.longitude, label: exact.name };
}

function nearMe() {
  const error = $("#place-error");
  setMessage(error, "");
  if (!("geolocation" in navigator)) {
    setMessage(error, "This browser cannot tell where you are. Type a place or coordinates instead.");
    $("#place").focus();
    return;
  }
  const button = $("#near-me");
  button.disabled = true;
  button.textContent = "Finding you…";
  const done = () => {
    button.disabled = false;
    button.textContent = "Near me";
  };
  navigator.geolocation.getCurrentPosition((position) => {
    done();
    located = { lat: position.coords.latitude, lon: position.coords.longitude };
    $("#place").value = MY_LOCATION;
    search({ focus: true });
  }, (failure) => {
    done();
    setMessage(error, failure && failure.code === 1
      ? "This page may not know where you are (location not allowed). Type a place or coordinates instead."
      : "Your location is not available right now. Type a place or coordinates instead.");
    $("#place").focus();
  }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 });
}

// ---- search -------------------------------------------------------------------------------

async function onSearch(event) {
  event.preventDefault();
  await search({ focus: true });
}

export async function search({ focus = false, keepError = false } = {}) {
  const error = $("#search-error");
  if (!keepError) setMessage(error, "");
  setMessage($("#place-error"), "");
  const window = chosenWindow();
  if (window.error) {
    setMessage(error, window.error);
    return;
  }
  const origin = typedPlace();
  if (origin && origin.error) {
    setMessage($("#place-error"), origin.error);
    $("#place").focus();
    return;
  }
  const params = new URLSearchParams({
    start: rfc3339(window.startMs), end: rfc3339(window.endMs), limit: String(PAGE_SIZE),
  });
  const site = selectedSite();
  if (origin) {
    params.set("near", `${origin.lat.toFixed(6)},${origin.lon.toFixed(6)}`);
    params.set("radius_km", $("#radius").value);
  } else if (site) {
    params.set("site_id", String(site.id));
  }
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
    const [answer] = await Promise.all([
      state.client.request("GET", "/api/v1/availability?" + params.toString()),
      refreshSites(),
    ]);
    await ensureSites(answer.connectors);
    lastSearch = { window, params, origin, connectors: answer.connectors, nextCursor: answer.next_cursor };
    $("#place-note").textContent = origin
      ? `Searching within ${$("#radius").value} km of ${origin.label}, every site.` : "";
    rememberPlaces(answer.connectors);
    renderResults();
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

async function showMore() {
  if (!lastSearch || !lastSearch.nextCursor) return;
  const button = $("#show-more");
  button.disabled = true;
  button.textContent = "Loading…";
  const params = new URLSearchParams(lastSearch.params);
  params.set("cursor", lastSearch.nextCursor);
  try {
    const answer = await state.client.request("GET", "/api/v1/availability?" + params.toString());
    await ensureSites(answer.connectors);
    const first = lastSearch.connectors.length;
    lastSearch.connectors.push(...answer.connectors);
    lastSearch.nextCursor = answer.next_cursor;
    rememberPlaces(answer.connectors);
    renderResults();
    const heading = $("#result-list").children[first] && $("#result-list").children[first].querySelector("h3");
    if (heading) heading.focus();
    else $("#results-title").focus();
    announce(`${answer.connectors.length} more shown.`);
  } catch (failure) {
    if (failure.status !== 401) setMessage($("#search-error"), plainMessage(failure));
  } finally {
    button.disabled = false;
    button.textContent = "Show more";
  }
}

function renderResults() {
  const { window, origin, connectors, nextCursor } = lastSearch;
  const count = connectors.length;
  const when = `${formatWindow(window.startMs, window.endMs, window.zone)} (${window.zone})`;
  const where = origin ? ` within ${lastSearch.params.get("radius_km")} km of ${origin.label}, nearest first` : "";
  const more = nextCursor ? " More are available below." : "";
  $("#results-summary").textContent = count
    ? `${count} ${count === 1 ? "connector is" : "connectors are"} free for ${when}${where}.${more}`
    : `Nothing is free for the whole of ${when}${where}. Try another time, another place or fewer options.`;
  $("#result-list").replaceChildren(...connectors.map((c) => resultCard(c, window)));
  show($("#show-more"), Boolean(nextCursor));
  show($("#results"));
}

// The terms that apply to a connector: its site's as answered, else the site as loaded.
function termsOf(connector) {
  if (connector.site.terms) return connector.site.terms;
  const site = siteById(connector.site.id);
  return site ? site.terms : null;
}

function resultCard(connector, window) {
  const price = connector.price;
  const zone = connector.site.timezone;
  const title = `${connector.charge_point_id} · connector ${connector.connector_id}`;
  const idBase = `result-${connector.charge_point_id}-${connector.connector_id}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const headingId = idBase;
  const termsId = `${idBase}-terms`;
  const key = connector.key || (connector.key = randomKey()); // One key per offer: no double booking.
  const periods = price.periods.map((p) => {
    const parts = [`${formatTime(p.start, zone)}–${formatTime(p.end, zone)}`,
      `${formatMoney(p.energy_price_per_kwh, price.currency)} per kWh`];
    if (Number(p.time_price_per_hour) > 0) parts.push(`${formatMoney(p.time_price_per_hour, price.currency)} per hour`);
    return h("li", {}, parts.join(" · "));
  });
  const terms = termsSentences(termsOf(connector), price.currency, price.reservation_fee);
  const button = h("button", {
    type: "button", class: "primary book", "aria-describedby": `${headingId} ${termsId}`,
    onclick: () => book(connector, window, key, button),
  }, "Book");
  const site = siteById(connector.site.id);
  const distance = connector.distance_km ?? connector.site.distance_km;
  return h("li", { class: "card result", dataset: { chargePoint: connector.charge_point_id, connector: String(connector.connector_id) } },
    h("h3", { id: headingId, tabindex: "-1" }, title),
    h("p", { class: "meta" },
      distance !== undefined && distance !== null
        ? h("span", { class: "tag distance", "data-role": "distance" }, `${distanceText(distance)} away`) : null,
      h("span", { class: "tag" }, connector.connector_type),
      h("span", { class: "tag" }, `${Number(connector.max_power_kw)} kW`),
      h("span", {}, connector.site.name)),
    site && site.address ? h("p", { class: "hint address" }, site.address) : null,
    h("p", { class: "estimate" },
      h("strong", {}, `About ${formatMoney(price.estimate.total, price.currency)}`),
      ` for ${formatKwh(price.estimate.energy_kwh)}`),
    h("p", { class: "hint" }, "Energy price in this window:"),
    h("ul", { class: "periods" }, periods),
    h("p", { class: "hint" },
      `Includes a booking fee of ${formatMoney(price.reservation_fee, price.currency)} and a session fee of ${formatMoney(price.session_fee, price.currency)}.`),
    terms.length ? h("div", { class: "terms", id: termsId },
      h("p", { class: "terms-title" }, "If you book:"),
      h("ul", { "data-role": "terms" }, terms.map((line) => h("li", {}, line)))) : null,
    h("div", { class: "actions" }, button));
}

// ---- booking ------------------------------------------------------------------------------

async function book(connector, window, key, button) {
  const error = $("#search-error");
  setMessage(error, "");
  button.disabled = true;
  button.textContent = "Booking…";
  try {
    const reservation = await state.client.request("POST", "/api/v1/reservations", {
      charge_point_id: connector.charge_point_id,
      connector_id: connector.connector_id,
      start: rfc3339(window.startMs),
      end: rfc3339(window.endMs),
    }, { headers: { "Idempotency-Key": key } });
    hooks.booked(reservation);
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
  const terms = termsSentences(reservation.terms || termsOf(connector), price.currency, price.reservation_fee);
  if (terms.length) facts.push(["Terms", h("ul", { class: "terms-list" }, terms.map((line) => h("li", {}, line)))]);
  $("#confirmation-details").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  const calendar = $("#confirmation-calendar");
  calendar.onclick = () => hooks.calendar && hooks.calendar(reservation, calendar);
  show($("#results"), false);
  show($("#confirmation"));
  $("#confirmation-title").focus();
  $("#confirmation").scrollIntoView({ block: "start" });
  announce(`Booked. Your code is ${reservation.code.split("").join(" ")}.`);
}
