// The driver's page: sign up / sign in, search a window in the site's time (near the driver or
// a place, too), book with one click, see the code, and follow "my reservations" live: change
// the time, cancel, receipts, calendar files, and notices of what happened to a booking.
//   driver-search.js    the search, the results with their terms, booking
//   driver-bookings.js  my reservations
//   driver-notices.js   live notices
//   driver-shared.js    what they share
import { $, Client, LiveEvents, plainMessage, setMessage, show } from "./api.js";
import {
  addReservation, clearBookings, downloadCalendar, loadReservations, refreshReservation,
} from "./driver-bookings.js";
import { clearNotices, onNotification, setupNotices } from "./driver-notices.js";
import { loadSites, resetSearch, setupSearch } from "./driver-search.js";
import { state } from "./driver-shared.js";

const EXPIRED = "Your session expired. Please sign in again.";

const client = new Client("csms.driver", { onUnauthenticated: () => showAuth(EXPIRED) });
state.client = client;
const live = new LiveEvents(client, {
  open: () => loadReservations(),
  reservation: (data) => refreshReservation(data.id, true),
  meter: (data) => refreshReservation(data.reservation_id, false),
  notification: (data) => onNotification(data, (id) => refreshReservation(id, false)),
}, showLiveState);

let liveState = "offline";

// ---- signing in ---------------------------------------------------------------------------

function showAuth(message) {
  live.stop();
  clearBookings();
  clearNotices();
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
  resetSearch();
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

function showLiveState(value) {
  liveState = value;
  const badge = $("#live-state");
  badge.dataset.state = value;
  badge.textContent = { live: "Live", connecting: "Connecting…", offline: "Offline" }[value];
}

// A slow safety net: when the live stream is down, look every 30 s.
setInterval(() => {
  if (client.token && liveState !== "live" && !$("#app").hidden) loadReservations();
}, 30000);

setupSearch({ booked: addReservation, calendar: downloadCalendar });
setupNotices();
$("#auth-form").addEventListener("submit", onAuthSubmit);
$("#sign-out").addEventListener("click", signOut);

if (client.token) enterApp();
else showAuth();
