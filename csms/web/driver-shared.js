// What the driver page's modules share: the signed-in client, the sites, the driver's
// reservations, and the plain-words helpers (booking terms, distances, places).
import { $, formatMoney } from "./api.js";

export const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const PLACES_KEY = "csms.driver.places"; // charger id → {name, timezone} seen in searches

// Filled in by app.js: the API client, and what the page has loaded.
export const state = {
  client: null,
  sites: [], // GET /api/v1/sites (drivers may read them: address, coordinates, terms)
  reservations: new Map(), // id → the driver's reservation
};

export function siteById(id) {
  return state.sites.find((s) => s.id === id) || null;
}

// ---- places seen in searches ---------------------------------------------------------------

function loadPlaces() {
  try { return JSON.parse(localStorage.getItem(PLACES_KEY) || "{}"); } catch (error) { return {}; }
}

export function rememberPlaces(connectors) {
  const places = loadPlaces();
  for (const c of connectors) places[c.charge_point_id] = { name: c.site.name, timezone: c.site.timezone };
  try { localStorage.setItem(PLACES_KEY, JSON.stringify(places)); } catch (error) { /* full: fine */ }
}

// Where a reservation is: its site's name (when known) and time zone.
export function placeOf(reservation) {
  const known = loadPlaces()[reservation.charge_point_id];
  const zone = reservation.timezone || (known && known.timezone);
  if (known) return { name: known.name, timezone: zone };
  const zones = new Set(state.sites.map((s) => s.timezone));
  if (zone) return { name: "", timezone: zone };
  if (zones.size === 1) return { name: state.sites.length === 1 ? state.sites[0].name : "", timezone: [...zones][0] };
  return { name: "", timezone: BROWSER_ZONE };
}

// ---- words ---------------------------------------------------------------------------------

// "10 minutes", "1 hour", "1 hour 30 minutes", "2 days".
export function minutesText(total) {
  const n = Math.round(Number(total) || 0);
  const plural = (value, word) => `${value} ${word}${value === 1 ? "" : "s"}`;
  if (n < 60) return plural(n, "minute");
  if (n % 1440 === 0) return plural(n / 1440, "day");
  const hours = Math.floor(n / 60);
  const minutes = n % 60;
  return minutes ? `${plural(hours, "hour")} ${plural(minutes, "minute")}` : plural(hours, "hour");
}

// "1.2 km" (one decimal; "0.4 km" close by).
export function distanceText(km) {
  const value = Number(km);
  if (!Number.isFinite(value)) return "";
  return `${value.toLocaleString("en-GB", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} km`;
}

function isPositive(amount) {
  return Number(amount) > 0;
}

// The booking terms in plain sentences, money in `currency`; `bookingFee` is the window's.
export function termsSentences(terms, currency, bookingFee) {
  if (!terms) return [];
  const money = (amount) => formatMoney(amount, currency);
  const lines = [];
  if (isPositive(terms.cancel_fee)) {
    lines.push(terms.cancel_until_minutes > 0
      ? `Free cancellation until ${minutesText(terms.cancel_until_minutes)} before the start; after that, cancelling costs ${money(terms.cancel_fee)}.`
      : `Cancelling costs ${money(terms.cancel_fee)}.`);
  } else {
    lines.push("Free cancellation at any time before the start.");
  }
  const noShowCost = [];
  if (bookingFee !== undefined && isPositive(bookingFee)) noShowCost.push(`the booking fee (${money(bookingFee)})`);
  if (isPositive(terms.noshow_fee)) noShowCost.push(`a no-show fee of ${money(terms.noshow_fee)}`);
  lines.push(`If you have not started charging ${minutesText(terms.noshow_timeout_minutes)} after the start, the booking ends as a no-show`
    + (noShowCost.length ? ` and you pay ${noShowCost.join(" plus ")}.` : "."));
  lines.push(terms.change_until_minutes > 0
    ? `You can change the time until ${minutesText(terms.change_until_minutes)} before the start; after that, only the end.`
    : "You can change the time until the start; after that, only the end.");
  if (terms.early_start_minutes > 0) {
    lines.push(`Your code works from ${minutesText(terms.early_start_minutes)} before the start.`);
  }
  if (terms.late_stop_minutes > 0) {
    lines.push(`You may go on charging up to ${minutesText(terms.late_stop_minutes)} after the end.`);
  }
  if (terms.buffer_minutes > 0) {
    lines.push(`The connector is kept free for ${minutesText(terms.buffer_minutes)} after your booking, for the next driver.`);
  }
  return lines;
}

// What cancelling `reservation` now costs: {late, fee, text}.
export function cancelCost(reservation, now = Date.now()) {
  const terms = reservation.terms || {};
  const currency = (reservation.price && reservation.price.currency) || "EUR";
  const cutOff = Date.parse(reservation.start) - (Number(terms.cancel_until_minutes) || 0) * 60000;
  const late = isPositive(terms.cancel_fee) && now >= cutOff;
  if (!late) return { late: false, text: "Cancelling now is free." };
  const fee = formatMoney(terms.cancel_fee, currency);
  const why = Number(terms.cancel_until_minutes) > 0
    ? ` (free cancellation ended ${minutesText(terms.cancel_until_minutes)} before the start)`
    : "";
  return { late: true, fee, text: `Cancelling now costs ${fee}${why}.` };
}

export function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}
