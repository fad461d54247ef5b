// "My reservations" on the driver page: each booking live, changing its time (PATCH), cancelling
// with what it costs said first, the receipt of a finished one, and its calendar file.
import {
  $, formatDateTime, formatKwh, formatMoney, formatTime, formatWindow, h, hhmm, isoDate,
  nextDay, plainMessage, rfc3339, show, wallClock, zonedInstant,
} from "./api.js";
import { announce, cancelCost, placeOf, state } from "./driver-shared.js";

const refreshing = new Map();
const confirming = new Set(); // reservations whose "Cancel booking" asks "are you sure?"
const changing = new Set(); // reservations whose "Change time" form is open
const changeErrors = new Map(); // reservation id → why the last change was refused (kept across re-renders)
const receipts = new Map(); // reservation id → its receipt (shown), or {error}
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

const LINE_NAMES = {
  session_fee: "Session fee",
  booking_fee: "Booking fee",
  noshow_fee: "No-show fee",
  cancel_fee: "Late cancellation fee",
};

const RECEIPT_KINDS = {
  session: "Charging session",
  no_show: "No-show (charging did not start in time)",
  late_cancellation: "Late cancellation",
};

export function clearBookings() {
  state.reservations = new Map();
  for (const set of [confirming, changing]) set.clear();
  receipts.clear();
  itemErrors.clear();
  changeErrors.clear();
  $("#reservation-list").replaceChildren();
}

export async function loadReservations() {
  try {
    const answer = await state.client.request("GET", "/api/v1/reservations?limit=50");
    state.reservations = new Map(answer.items.map((r) => [r.id, r]));
    renderReservations();
  } catch (failure) {
    if (failure.status !== 401) announce(plainMessage(failure));
  }
}

export function addReservation(reservation) {
  state.reservations.set(reservation.id, reservation);
  renderReservations();
}

// Fetch one reservation again (after a live event); one request at a time per reservation.
// Resolves to the reservation, or null when it is not the driver's (404).
export async function refreshReservation(id, announceChange) {
  if (refreshing.has(id)) {
    const pending = refreshing.get(id);
    pending.again = true;
    pending.announceChange = announceChange || pending.announceChange;
    return pending.promise;
  }
  const entry = { again: false, announceChange };
  entry.promise = (async () => {
    try {
      const before = state.reservations.get(id);
      const after = await state.client.request("GET", `/api/v1/reservations/${id}`);
      state.reservations.set(id, after);
      renderReservation(after);
      if (entry.announceChange && (!before || before.status !== after.status)) {
        announce(`Reservation at ${after.charge_point_id} connector ${after.connector_id}: ${describeStatus(after)}`);
      }
      return after;
    } catch (failure) {
      if (failure.status !== 401 && failure.status !== 404) announce(plainMessage(failure));
      return null;
    } finally {
      refreshing.delete(id);
      if (entry.again) refreshReservation(id, entry.announceChange);
    }
  })();
  refreshing.set(id, entry);
  return entry.promise;
}

function renderReservations() {
  const focus = focusedRole();
  const sorted = [...state.reservations.values()].sort((a, b) => b.id - a.id);
  $("#reservation-list").replaceChildren(...sorted.map(reservationItem));
  show($("#mine-empty"), sorted.length === 0);
  if (focus) restoreFocus(itemOf(focus.id), focus.role);
}

function itemOf(id) {
  return document.querySelector(`#reservation-list li[data-id="${id}"]`);
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
  const existing = itemOf(reservation.id);
  if (!existing) {
    renderReservations();
    return;
  }
  const focus = focusedRole();
  // An open change form keeps what the driver typed across live updates.
  const typed = changing.has(reservation.id) ? formValues(existing) : null;
  const item = reservationItem(reservation);
  existing.replaceWith(item);
  if (typed) for (const [role, value] of Object.entries(typed)) {
    const input = item.querySelector(`[data-role="${role}"]`);
    if (input) input.value = value;
  }
  if (focus && focus.id === String(reservation.id)) restoreFocus(item, focus.role);
}

function formValues(item) {
  const values = {};
  for (const input of item.querySelectorAll("form.change input[data-role]")) values[input.dataset.role] = input.value;
  return values;
}

export function describeStatus(r) {
  const tx = r.transaction || {};
  switch (r.status) {
    case "booked":
      if (r.status_reason && /trying again/.test(r.status_reason)) {
        return `Booked — ${r.status_reason}.`; // e.g. "the charger is offline; trying again"
      }
      return Date.parse(r.start) <= Date.now()
        ? "Booked — getting the charger ready for you…"
        : `Booked — the connector is held for you from ${formatTime(r.start, placeOf(r).timezone)}.`;
    case "active": return "The connector is held for you. Type your code at the charger to start.";
    case "charging": return `Charging — ${formatKwh(tx.energy_kwh || r.energy_kwh || 0)} so far.`;
    case "completed": {
      const cost = r.cost || tx.cost;
      const currency = (r.price && r.price.currency) || "";
      const energy = r.energy_kwh || tx.energy_kwh;
      return `Completed — ${formatKwh(energy || 0)}` + (cost ? `, cost ${formatMoney(cost, currency)}.` : ".");
    }
    case "cancelled": {
      const fee = hasCost(r) ? ` It cost ${formatMoney(r.cost, r.price.currency)} (cancelled late).` : "";
      return `Cancelled${r.status_reason ? ` (${r.status_reason})` : ""}.${fee}`;
    }
    case "expired": return "Expired — the window ended without charging."
      + (hasCost(r) ? ` It cost ${formatMoney(r.cost, r.price.currency)}.` : "");
    case "failed": return `Failed: ${r.status_reason || "the charger could not take the booking"}.`;
    default: return r.status;
  }
}

function hasCost(r) {
  return r.cost !== undefined && r.cost !== null && Number(r.cost) > 0 && r.price;
}

function reservationItem(r) {
  const status = STATUS[r.status] || { label: r.status, tone: "info" };
  const place = placeOf(r);
  const live = ["booked", "active", "charging"].includes(r.status);
  const showCode = live && r.code;
  const item = h("li", { class: `card reservation status-${r.status}`, dataset: { id: String(r.id), status: r.status } },
    h("div", { class: "card-head" },
      h("h3", { tabindex: "-1" }, `${r.charge_point_id} · connector ${r.connector_id}`),
      h("span", { class: `badge tone-${status.tone}`, "data-role": "status" }, status.label)),
    h("p", { class: "when", "data-role": "when" }, `${formatWindow(r.start, r.end, place.timezone)} (${place.timezone})`,
      place.name ? ` · ${place.name}` : ""),
    showCode ? h("p", { class: "code-line" }, "Code ", h("span", { class: "code small" }, r.code)) : null,
    h("p", { class: "detail" }, describeStatus(r)));
  const error = itemErrors.get(r.id);
  if (error) item.append(h("p", { class: "error", role: "alert" }, error));
  if (live && changing.has(r.id)) item.append(changeForm(r));
  const box = h("div", { class: "actions" });
  if (live && !changing.has(r.id)) {
    box.append(h("button", { type: "button", "data-role": "change", onclick: () => {
      changing.add(r.id);
      confirming.delete(r.id);
      itemErrors.delete(r.id);
      changeErrors.delete(r.id);
      rerender(r.id, movableStart(r) ? "change-date" : "change-end-date");
    } }, "Change time"));
  }
  if (live) box.append(h("button", { type: "button", "data-role": "calendar", onclick: (event) => downloadCalendar(r, event.currentTarget) }, "Add to calendar"));
  if (hasCost(r) && ["completed", "expired", "cancelled"].includes(r.status)) {
    const open = receipts.has(r.id);
    box.append(h("button", { type: "button", "data-role": "receipt", "aria-expanded": open ? "true" : "false",
      onclick: () => toggleReceipt(r.id) }, open ? "Hide receipt" : "Receipt"));
  }
  if (box.children.length) item.append(box);
  if (["booked", "active"].includes(r.status)) item.append(cancelControls(r));
  if (receipts.has(r.id)) item.append(receiptView(r, receipts.get(r.id)));
  return item;
}

// ---- changing the time ----------------------------------------------------------------------

// Whether the start may still move (before the terms' change cut-off, not charging).
function movableStart(r) {
  if (r.status === "charging") return false;
  const cutOff = Number((r.terms || {}).change_until_minutes) || 0;
  return Date.now() < Date.parse(r.start) - cutOff * 60000;
}

function field(id, role, label, type, value) {
  return h("div", {},
    h("label", { for: id }, label),
    h("input", { id, type, required: true, value, "data-role": role }));
}

function changeForm(r) {
  const zone = placeOf(r).timezone;
  const from = wallClock(Date.parse(r.start), zone);
  const until = wallClock(Date.parse(r.end), zone);
  const base = `change-${r.id}`;
  const both = movableStart(r);
  const fields = both
    ? [field(`${base}-date`, "change-date", "New date", "date", isoDate(from)),
      field(`${base}-start`, "change-start", "New start", "time", hhmm(from)),
      field(`${base}-end`, "change-end", "New end", "time", hhmm(until))]
    : [field(`${base}-end-date`, "change-end-date", "End date", "date", isoDate(until)),
      field(`${base}-end`, "change-end", "New end", "time", hhmm(until))];
  const note = both
    ? `Times are in ${zone}. The price is worked out again for the new time.`
    : `Times are in ${zone}. ${r.status === "charging" ? "While charging" : "This close to the start"}, only the end can move: later to extend, earlier to shorten.`;
  const form = h("form", { class: "change", novalidate: true, onsubmit: (event) => {
    event.preventDefault();
    submitChange(r, form, both);
  } },
  h("p", { class: "question" }, "Change the time of this booking"),
  h("div", { class: "window-fields" }, fields),
  h("p", { class: "hint" }, note),
  h("p", { class: "error", role: "alert", "data-role": "change-error", hidden: !changeErrors.has(r.id) },
    changeErrors.get(r.id) || ""),
  h("div", { class: "actions" },
    h("button", { type: "submit", class: "primary", "data-role": "change-save" }, "Save new time"),
    h("button", { type: "button", "data-role": "change-cancel", onclick: () => {
      changing.delete(r.id);
      changeErrors.delete(r.id);
      rerender(r.id, "change");
    } }, "Keep the time")));
  return form;
}

async function submitChange(r, form, both) {
  const zone = placeOf(r).timezone;
  const value = (role) => form.querySelector(`[data-role="${role}"]`).value;
  const say = (text) => {
    if (text) changeErrors.set(r.id, text);
    else changeErrors.delete(r.id);
    // The form may have been drawn again meanwhile (a live update): write into the current one.
    const current = itemOf(r.id);
    const error = current && current.querySelector('[data-role="change-error"]');
    if (error) {
      error.textContent = text;
      error.hidden = !text;
    }
  };
  let body;
  if (both) {
    const date = value("change-date");
    const start = value("change-start");
    const end = value("change-end");
    if (!date || !start || !end) return say("Choose a date, a start time and an end time.");
    const startMs = zonedInstant(date, start, zone);
    const endMs = zonedInstant(end <= start ? nextDay(date) : date, end, zone);
    body = {};
    if (startMs !== Date.parse(r.start)) body.start = rfc3339(startMs);
    if (endMs !== Date.parse(r.end)) body.end = rfc3339(endMs);
  } else {
    const date = value("change-end-date");
    const end = value("change-end");
    if (!date || !end) return say("Choose the date and time the booking should end.");
    const endMs = zonedInstant(date, end, zone);
    body = endMs !== Date.parse(r.end) ? { end: rfc3339(endMs) } : {};
  }
  if (!Object.keys(body).length) return say("That is the time the booking has already. Choose another time.");
  say("");
  const button = form.querySelector('[data-role="change-save"]');
  button.disabled = true;
  button.textContent = "Saving…";
  try {
    const after = await state.client.request("PATCH", `/api/v1/reservations/${r.id}`, body);
    changing.delete(r.id);
    changeErrors.delete(r.id);
    state.reservations.set(after.id, after);
    rerender(r.id, "change");
    const price = after.price;
    announce(`Booking changed: now ${formatWindow(after.start, after.end, zone)}`
      + (price ? `, about ${formatMoney(price.estimate.total, price.currency)}.` : "."));
  } catch (failure) {
    if (failure.status === 401) return;
    if (failure.code === "slot_taken") say("That time is taken: another booking holds this connector then. Choose another time.");
    else say(plainMessage(failure)); // not_movable: the server says why (past the cut-off, over)
    const current = itemOf(r.id) || form;
    const save = current.querySelector('[data-role="change-save"]');
    if (save) {
      save.disabled = false;
      save.textContent = "Save new time";
    }
    const input = current.querySelector('[data-role="change-end"]');
    if (input) input.focus();
  }
}

// ---- cancelling -----------------------------------------------------------------------------

function cancelControls(r) {
  const box = h("div", { class: "actions" });
  if (!confirming.has(r.id)) {
    box.append(h("button", { type: "button", "data-role": "cancel", onclick: () => {
      confirming.add(r.id);
      changing.delete(r.id);
      itemErrors.delete(r.id);
      rerender(r.id, "cancel-yes");
    } }, "Cancel booking"));
    return box;
  }
  const cost = cancelCost(r);
  box.append(
    h("span", { class: "question", "data-role": "cancel-cost" }, `Cancel this booking? ${cost.text}`),
    h("button", { type: "button", class: "danger", "data-role": "cancel-yes", onclick: (event) => cancel(r.id, event.currentTarget) },
      cost.late ? `Yes, cancel and pay ${cost.fee}` : "Yes, cancel it"),
    h("button", { type: "button", "data-role": "cancel-no", onclick: () => {
      confirming.delete(r.id);
      rerender(r.id, "cancel");
    } }, "Keep it"));
  return box;
}

function rerender(id, focusRole) {
  const reservation = state.reservations.get(id);
  if (!reservation) return;
  renderReservation(reservation);
  const item = itemOf(id);
  const target = item && (item.querySelector(`[data-role="${focusRole}"]`) || item.querySelector("h3"));
  if (target) target.focus();
}

async function cancel(id, button) {
  button.disabled = true;
  try {
    const after = await state.client.request("DELETE", `/api/v1/reservations/${id}`);
    confirming.delete(id);
    state.reservations.set(after.id, after);
    rerender(id, "heading");
    const fee = hasCost(after) ? ` You pay ${formatMoney(after.cost, after.price.currency)}.` : "";
    announce(`Booking at ${after.charge_point_id} connector ${after.connector_id} cancelled.${fee}`);
  } catch (failure) {
    if (failure.status === 401) return;
    confirming.delete(id);
    itemErrors.set(id, plainMessage(failure));
    await refreshReservation(id, true);
    rerender(id, "cancel");
  }
}

// ---- receipt and calendar -------------------------------------------------------------------

async function toggleReceipt(id) {
  if (receipts.has(id)) {
    receipts.delete(id);
    rerender(id, "receipt");
    return;
  }
  try {
    receipts.set(id, await state.client.request("GET", `/api/v1/reservations/${id}/receipt`));
  } catch (failure) {
    if (failure.status === 401) return;
    receipts.set(id, { error: failure.code === "no_receipt" ? "There is no receipt for this booking yet." : plainMessage(failure) });
  }
  rerender(id, "receipt-title");
}

function receiptView(r, receipt) {
  if (receipt.error) return h("p", { class: "error", role: "alert", "data-role": "receipt-title", tabindex: "-1" }, receipt.error);
  const zone = receipt.timezone || placeOf(r).timezone;
  const money = (amount) => formatMoney(amount, receipt.currency);
  const rows = receipt.lines.map((line) => {
    let what = LINE_NAMES[line.item] || line.item;
    if (line.item === "energy" || line.item === "time") {
      const span = line.start && line.end ? ` ${formatTime(line.start, zone)}–${formatTime(line.end, zone)}` : "";
      what = (line.item === "energy" ? "Energy" : "Time") + span;
    }
    const quantity = line.quantity !== undefined && line.quantity !== null
      ? (line.unit === "kWh" ? formatKwh(line.quantity) : `${Number(line.quantity).toLocaleString(undefined, { maximumFractionDigits: 2 })} ${line.unit === "h" ? "h" : line.unit || ""}`)
      : "";
    const unitPrice = line.unit_price ? `${money(line.unit_price)} per ${line.unit || "unit"}` : "";
    return h("tr", {},
      h("th", { scope: "row" }, what),
      h("td", { class: "num" }, quantity),
      h("td", { class: "num" }, unitPrice),
      h("td", { class: "num" }, money(line.amount)));
  });
  const site = receipt.site || {};
  const tax = receipt.tax
    ? h("p", { class: "hint" }, `Includes ${Number(receipt.tax.rate_percent)} % tax: ${money(receipt.tax.included)} (before tax ${money(receipt.tax.net)}).`)
    : null;
  return h("section", { class: "receipt", "aria-labelledby": `receipt-${r.id}` },
    h("h4", { id: `receipt-${r.id}`, tabindex: "-1", "data-role": "receipt-title" }, `Receipt for booking #${receipt.reservation_id}`),
    h("p", {}, RECEIPT_KINDS[receipt.kind] || receipt.kind),
    h("p", { class: "hint" }, [site.name, site.address].filter(Boolean).join(", "),
      ` · ${receipt.charge_point_id} connector ${receipt.connector_id}`),
    h("p", { class: "hint" }, `${formatWindow(receipt.start, receipt.end, zone)} (${zone}) · issued ${formatDateTime(receipt.issued_at, zone)}`),
    h("div", { class: "table-wrap" }, h("table", { class: "receipt-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Item"), h("th", { scope: "col", class: "num" }, "Quantity"),
        h("th", { scope: "col", class: "num" }, "Unit price"), h("th", { scope: "col", class: "num" }, "Amount"))),
      h("tbody", {}, rows),
      h("tfoot", {}, h("tr", {},
        h("th", { scope: "row" }, "Total"), h("td", {}), h("td", {}),
        h("td", { class: "num", "data-role": "receipt-total" }, money(receipt.total)))))),
    tax);
}

// The booking's .ics: fetched with the token, handed to the browser as a download.
export async function downloadCalendar(r, button) {
  if (button) button.disabled = true;
  try {
    const blob = await state.client.blob(`/api/v1/reservations/${r.id}/calendar.ics`);
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `booking-${r.id}.ics`, class: "visually-hidden" }, "calendar file");
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    announce("The calendar file is downloading.");
  } catch (failure) {
    if (failure.status !== 401) announce(plainMessage(failure));
  } finally {
    if (button) button.disabled = false;
  }
}
