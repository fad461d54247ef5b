// Live notices on the driver page: the `notification` events of the driver's own bookings
// (GET /api/v1/events), each said in plain words in a polite live region. Types this page does
// not know are left out; an event of a booking that is not the viewer's is never shown.
import { $, formatKwh, formatMoney, formatTime, formatWindow, h, show } from "./api.js";
import { placeOf, state } from "./driver-shared.js";

const MAX_NOTICES = 8;
const seen = new Set(); // notification ids (delivery is at least once)
const KNOWN = new Set(["booked", "reminder", "reserved", "moved", "failed", "no_show", "cancelled", "completed"]);

export function setupNotices() {
  $("#notices-clear").addEventListener("click", () => {
    clearNotices();
    $("#mine-title").focus();
  });
}

export function clearNotices() {
  seen.clear();
  $("#notice-list").replaceChildren();
  show($("#notices-empty"));
  show($("#notices-clear"), false);
}

// `lookup(id)` resolves to the viewer's reservation, or null when it is not theirs.
export async function onNotification(event, lookup) {
  if (!event || !KNOWN.has(event.type) || seen.has(event.id)) return;
  seen.add(event.id);
  const reservation = state.reservations.get(event.reservation_id) || await lookup(event.reservation_id);
  if (!reservation) return;
  const text = noticeText(event, reservation);
  if (!text) return;
  const zone = placeOf(reservation).timezone;
  const item = h("li", { class: `live-notice notice-${event.type}`, dataset: { type: event.type, reservation: String(event.reservation_id) } },
    h("span", { class: "notice-text" }, text),
    h("time", { datetime: event.created_at || "" }, event.created_at ? formatTime(event.created_at, zone) : ""));
  const list = $("#notice-list");
  list.prepend(item);
  while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
  show($("#notices-empty"), false);
  show($("#notices-clear"));
}

function where(payload, reservation) {
  const cp = payload.charge_point_id || reservation.charge_point_id;
  const connector = payload.connector_id || reservation.connector_id;
  return `${cp} connector ${connector}`;
}

// Why it moved, in the words the server gave (without its machine-readable times).
function movedWhy(reason) {
  const text = String(reason || "");
  const scheduler = /^moved to .+? connector \d+: (.+)$/.exec(text);
  if (scheduler) return scheduler[1].replace(/[.\s]+$/, "");
  if (/^moved by an operator/.test(text)) return "the operator moved it";
  return "";
}

export function noticeText(event, reservation) {
  const p = event.payload || {};
  const zone = placeOf(reservation).timezone;
  const at = where(p, reservation);
  const start = p.start || reservation.start;
  const end = p.end || reservation.end;
  const window = start && end ? formatWindow(start, end, zone) : "";
  switch (event.type) {
    case "booked": return `Booked: ${at}, ${window}.`;
    case "reminder": return `Reminder: your booking at ${at} starts at ${formatTime(start, zone)}.`;
    case "reserved": return `${at} is ready for you. Type your code at the charger to start.`;
    case "moved": {
      const from = p.from || {};
      const otherPlace = from.charge_point_id !== undefined
        && (from.charge_point_id !== p.charge_point_id || from.connector_id !== p.connector_id);
      const otherTime = from.start !== undefined && (from.start !== p.start || from.end !== p.end);
      const why = movedWhy(p.reason);
      let text = otherPlace ? `Your booking was moved to ${at}` : `Your booking at ${at} now runs ${window}`;
      if (why) text += `: ${why}`;
      text += ".";
      if (otherPlace && otherTime) text += ` New time: ${window}.`;
      return text;
    }
    case "failed": return `Your booking at ${at} failed${p.reason ? `: ${p.reason}` : ""}.`;
    case "no_show": return `Your booking at ${at} ended: charging did not start in time (no-show).`;
    case "cancelled": {
      const who = /operator/.test(String(p.reason || "")) ? " by the operator" : "";
      return `Your booking at ${at} for ${window} was cancelled${who}.`;
    }
    case "completed": {
      const cost = p.cost && p.currency ? `, cost ${formatMoney(p.cost, p.currency)}` : "";
      const energy = p.energy_kwh ? `: ${formatKwh(p.energy_kwh)}` : "";
      return `Charging at ${at} is complete${energy}${cost}.`;
    }
    default: return "";
  }
}
