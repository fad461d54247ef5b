// The shared client of both pages: the HTTP API, live events, times in a site's zone, and a
// tiny DOM builder. Only the public HTTP API is used; nothing is loaded from anywhere else.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A client that keeps its bearer token in sessionStorage (per tab, gone when the tab closes).
export class Client {
  constructor(storageKey, { onUnauthenticated } = {}) {
    this.storageKey = storageKey;
    this.onUnauthenticated = onUnauthenticated || (() => {});
  }

  get token() { return sessionStorage.getItem(this.storageKey + ".token"); }
  get email() { return sessionStorage.getItem(this.storageKey + ".email"); }

  remember(token, email) {
    sessionStorage.setItem(this.storageKey + ".token", token);
    sessionStorage.setItem(this.storageKey + ".email", email);
  }

  forget() {
    sessionStorage.removeItem(this.storageKey + ".token");
    sessionStorage.removeItem(this.storageKey + ".email");
  }

  async signIn(email, password) {
    const answer = await this.request("POST", "/api/v1/tokens", { email, password }, { anonymous: true });
    this.remember(answer.token, email);
    return answer;
  }

  // Revokes the token on the server (other tabs and stolen copies stop working too), then
  // forgets it here; forgetting happens even when the server cannot be reached.
  async signOut() {
    try {
      if (this.token) await this.request("DELETE", "/api/v1/tokens/current");
    } catch (error) {
      // Signed out locally all the same; the token expires on its own.
    } finally {
      this.forget();
    }
  }

  async signUp(email, password) {
    await this.request("POST", "/api/v1/users", { email, password }, { anonymous: true });
    return this.signIn(email, password);
  }

  // JSON in, JSON out; every failure becomes an ApiError with a code and a message.
  async request(method, path, body, { headers = {}, anonymous = false } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (!anonymous && this.token) init.headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
    }
    let payload = null;
    const text = await response.text();
    if (text) {
      try { payload = JSON.parse(text); } catch (error) { payload = null; }
    }
    if (response.ok) return payload;
    const error = (payload && payload.error) || {};
    const failure = new ApiError(response.status, error.code || "http_" + response.status,
      error.message || response.statusText || "request failed");
    if (response.status === 401 && !anonymous) {
      this.forget();
      this.onUnauthenticated(failure);
    }
    throw failure;
  }

  // A file the API serves (e.g. a calendar), fetched with the bearer token, as a Blob.
  async blob(path) {
    const headers = {};
    if (this.token) headers.Authorization = "Bearer " + this.token;
    let response;
    try {
      response = await fetch(path, { headers });
    } catch (error) {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
    }
    if (response.ok) return response.blob();
    let error = {};
    try { error = (await response.json()).error || {}; } catch (ignored) { error = {}; }
    const failure = new ApiError(response.status, error.code || "http_" + response.status,
      error.message || response.statusText || "request failed");
    if (response.status === 401) {
      this.forget();
      this.onUnauthenticated(failure);
    }
    throw failure;
  }

  // All items of a paged list, up to `maxPages` pages (stop early when `enough(items)` says so).
  async all(path, { maxPages = 10, enough = () => false } = {}) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page += 1) {
      const join = path.includes("?") ? "&" : "?";
      const answer = await this.request("GET", cursor ? `${path}${join}cursor=${encodeURIComponent(cursor)}` : path);
      items.push(...answer.items);
      cursor = answer.next_cursor;
      if (!cursor || enough(answer.items)) break;
    }
    return items;
  }
}

// One sentence a person understands, for any error the API gives.
export function plainMessage(error) {
  if (!(error instanceof ApiError)) return "Something went wrong in this page. Reload it and try again.";
  switch (error.code) {
    case "network": return error.message;
    case "unauthenticated":
      return error.message === "wrong email or password"
        ? "Wrong email or password."
        : "Your session expired. Please sign in again.";
    case "slot_taken": return "Sorry, someone else just booked that connector for this time.";
    case "invalid_window": return sentence(error.message) + ".";
    case "already_exists": return "An account with this email already exists. Sign in instead.";
    case "forbidden": return "This account may not do that.";
    case "not_cancellable": return "This reservation can no longer be cancelled.";
    case "not_connected": return "The charger is not connected right now.";
    case "charge_point_timeout": return "The charger did not answer in time.";
    case "charge_point_call_error": return "The charger refused: " + error.message;
    case "database_unavailable": return "The system is briefly unavailable. Try again in a moment.";
    case "internal_error": return "Something went wrong on our side. Please try again.";
    default:
      if (error.status >= 500) return "Something went wrong on our side. Please try again.";
      return sentence(error.message) + (/[.!?]$/.test(error.message) ? "" : ".");
  }
}

function sentence(text) {
  const value = String(text || "").trim();
  return value.charAt(0).toUpperCase() + value.slice(1);
}

// Live updates: one EventSource on GET /api/v1/events (the token goes in the query string,
// as EventSource cannot send headers). `handlers` maps event types to functions; `onState`
// hears "live", "connecting" and "offline"; a stream refused for an expired token ends in the
// client's onUnauthenticated.
export class LiveEvents {
  constructor(client, handlers, onState = () => {}) {
    this.client = client;
    this.handlers = handlers;
    this.onState = onState;
    this.source = null;
    this.retry = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.source = null;
  }

  open() {
    if (this.stopped || !this.client.token) return;
    this.onState("connecting");
    const source = new EventSource("/api/v1/events?access_token=" + encodeURIComponent(this.client.token));
    this.source = source;
    source.onopen = () => {
      this.onState("live");
      if (this.handlers.open) this.handlers.open();
    };
    for (const [type, handler] of Object.entries(this.handlers)) {
      if (type === "open") continue;
      source.addEventListener(type, (event) => {
        let data;
        try { data = JSON.parse(event.data); } catch (error) { return; }
        handler(data);
      });
    }
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        this.onState("connecting"); // The browser reconnects by itself.
        return;
      }
      // Refused (not a dropped line): find out whether the session expired, else retry.
      source.close();
      this.onState("offline");
      this.client.request("GET", "/api/v1/reservations?limit=1").then(
        () => this.later(),
        (error) => { if (error.status !== 401) this.later(); },
      );
    };
  }

  later() {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.open(), 3000);
  }
}

// ---- Times: windows are chosen and shown in the site's own time zone ----------------------

const partsFormats = new Map();

function partsFormat(timeZone) {
  if (!partsFormats.has(timeZone)) {
    partsFormats.set(timeZone, new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
  }
  return partsFormats.get(timeZone);
}

// The wall-clock fields of instant `ms` in `timeZone`.
export function wallClock(ms, timeZone) {
  const fields = {};
  for (const part of partsFormat(timeZone).formatToParts(new Date(ms))) fields[part.type] = part.value;
  return {
    year: Number(fields.year), month: Number(fields.month), day: Number(fields.day),
    hour: Number(fields.hour) % 24, minute: Number(fields.minute), second: Number(fields.second),
  };
}

// How far `timeZone` is ahead of UTC at instant `ms`, in milliseconds.
export function zoneOffset(ms, timeZone) {
  const w = wallClock(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

// The instant (ms) when the clocks of `timeZone` show the date "YYYY-MM-DD" and time "HH:MM".
// In a gap (clocks jump forward) the time counts as if the jump had not happened yet.
export function zonedInstant(date, time, timeZone) {
  const [year, month, day] = date.split("-").map(Number);
  const [hour, minute] = time.split(":").map(Number);
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const first = guess - zoneOffset(guess, timeZone);
  const second = guess - zoneOffset(first, timeZone);
  return Math.min(first, second);
}

// "YYYY-MM-DD" of the day after `date`.
export function nextDay(date) {
  const [year, month, day] = date.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, day + 1)).toISOString().slice(0, 10);
}

export function isoDate(w) {
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

export function hhmm(w) {
  return `${pad(w.hour)}:${pad(w.minute)}`;
}

function pad(n) { return String(n).padStart(2, "0"); }

// RFC 3339 in UTC without fractions, e.g. 2026-05-01T16:00:00Z.
export function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const formats = new Map();

function format(timeZone, options) {
  const key = timeZone + JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(undefined, { timeZone, ...options }));
  return formats.get(key);
}

export function formatTime(value, timeZone) {
  return format(timeZone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(value));
}

export function formatDay(value, timeZone) {
  return format(timeZone, { weekday: "short", day: "numeric", month: "short" }).format(new Date(value));
}

export function formatDateTime(value, timeZone) {
  if (!value) return "";
  return formatDay(value, timeZone) + ", " + formatTime(value, timeZone);
}

// "Tue 25 Nov, 18:00–19:00" (the end's day is named when it differs).
export function formatWindow(start, end, timeZone) {
  const sameDay = formatDay(start, timeZone) === formatDay(end, timeZone);
  const until = sameDay ? formatTime(end, timeZone) : formatDateTime(end, timeZone);
  return `${formatDateTime(start, timeZone)}–${until}`;
}

// "Europe/Berlin (CET, UTC+01:00)" at instant `ms`.
export function zoneLabel(timeZone, ms = Date.now()) {
  const offset = zoneOffset(ms, timeZone) / 60000;
  const sign = offset < 0 ? "−" : "+";
  const abs = Math.abs(offset);
  const utc = `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  let short = "";
  try {
    const part = new Intl.DateTimeFormat("en-GB", { timeZone, timeZoneName: "short" })
      .formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName");
    short = part && !part.value.startsWith("GMT") && !part.value.startsWith("UTC") ? part.value + ", " : "";
  } catch (error) { short = ""; }
  return `${timeZone} (${short}${utc})`;
}

export function durationText(ms) {
  const minutes = Math.round(ms / 60000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h && m) return `${h} h ${m} min`;
  return h ? `${h} h` : `${m} min`;
}

export function formatMoney(amount, currency) {
  const number = Number(amount);
  if (!Number.isFinite(number)) return `${amount} ${currency}`;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(number);
  } catch (error) {
    return `${number.toFixed(2)} ${currency}`;
  }
}

export function formatKwh(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return `${value} kWh`;
  return `${number.toLocaleString(undefined, { maximumFractionDigits: number < 10 ? 3 : 1 })} kWh`;
}

// A key for Idempotency-Key: random, and available without a secure context too.
export function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- DOM: elements built from data, never from HTML strings --------------------------------

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

export function setMessage(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// ---- Confirmation: a <dialog> the page holds (never window.confirm) -------------------------

// Ask before a destructive action. `dialog` holds a form[method=dialog] with #confirm-text and
// #confirm-yes; resolves true only when the person presses the yes button (Escape, the other
// button or closing it: false). Focus goes back to where it was.
export function confirmDialog(dialog, text, yesLabel) {
  const before = document.activeElement;
  $("#confirm-text", dialog).textContent = text;
  $("#confirm-yes", dialog).textContent = yesLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (before && before.focus) before.focus();
      resolve(dialog.returnValue === "yes");
    }, { once: true });
    dialog.showModal();
    $("#confirm-no", dialog).focus();
  });
}

// A debounced call: `wait` ms after the last call, `fn` runs once with the last arguments.
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
