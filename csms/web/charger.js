// One charger for operators (/operator/charge-points/{id}): identity and firmware, connectors
// with their status history, configuration (GetConfiguration / ChangeConfiguration), commands,
// firmware and diagnostics, local list, security events, the OCPP message log, bookings and
// transactions; edit or remove it. Only the public HTTP API; the charger's answers are shown as
// it gave them.
import { $, Client, LiveEvents, formatKwh, h, plainMessage, setMessage, show } from "./api.js";

const EXPIRED = "Your session expired. Please sign in again.";
const PAGE = 20;
const HISTORY_PAGE = 10;
const TONES = {
  Available: "go", Preparing: "info", Charging: "info", SuspendedEV: "info", SuspendedEVSE: "info",
  Finishing: "info", Reserved: "warn", Unavailable: "off", Faulted: "bad",
};
const ANSWER_OK = ["Accepted", "Unlocked", "Scheduled"];

const cpId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const base = `/api/v1/charge-points/${encodeURIComponent(cpId)}`;
const client = new Client("csms.operator", { onUnauthenticated: () => showAuth(EXPIRED) });
const live = new LiveEvents(client, {
  connector: (event) => { if (event.charge_point_id === cpId) onConnectorEvent(event); },
  charge_point: (event) => { if (event.charge_point_id === cpId) refreshCharger(); },
});

let charger = null;
let sites = [];
let zone = "UTC";
const histories = new Map(); // connector id → {list, older, cursor}
let messagesCursor = null;
let securityCursor = null;

// ---- small helpers ------------------------------------------------------------------------

const stamps = new Map();
function stamp(value) {
  if (!value) return "—";
  if (!stamps.has(zone)) {
    stamps.set(zone, new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23",
    }));
  }
  return stamps.get(zone).format(new Date(value));
}

function report(element, text, ok) {
  setMessage(element, text);
  element.classList.toggle("ok", ok === true);
  element.classList.toggle("bad", ok === false);
}

function failureText(failure) {
  return failure instanceof Error && !("status" in failure) ? failure.message : plainMessage(failure);
}

// Resolves true only when the operator presses the dialog's confirm button (Esc: false).
function confirmWith(text, yes) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    dialog.querySelector('button[value="cancel"]').focus();
  });
}

function command(action, payload) {
  return client.request("POST", `${base}/commands/${action}`, payload);
}

function answerOf(reply) {
  return reply && reply.status ? reply.status : JSON.stringify(reply);
}

// ---- signing in ---------------------------------------------------------------------------

function showAuth(message) {
  live.stop();
  show($("#app"), false);
  show($("#who"), false);
  show($("#auth"));
  setMessage($("#notice"), message || "");
  $("#password").value = "";
  $("#email").focus();
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  if (!email || !password) {
    setMessage($("#auth-error"), "Enter your email and password.");
    return;
  }
  try {
    await client.signIn(email, password);
    setMessage($("#auth-error"), "");
    setMessage($("#notice"), "");
    await enterApp();
  } catch (failure) {
    setMessage($("#auth-error"), plainMessage(failure));
  }
}

async function enterApp() {
  show($("#auth"), false);
  $("#who-email").textContent = client.email || "";
  try {
    charger = await client.request("GET", base);
  } catch (failure) {
    if (failure.status === 403) {
      client.forget();
      showAuth("This account is not an operator account. Sign in with an operator account.");
    } else if (failure.status === 404) {
      show($("#who"));
      setMessage($("#notice"), `There is no charger named “${cpId}”.`);
    } else if (failure.status !== 401) {
      setMessage($("#notice"), plainMessage(failure));
    }
    return;
  }
  sites = await client.all("/api/v1/sites?limit=500");
  const site = sites.find((s) => s.id === charger.site_id);
  zone = site ? site.timezone : "UTC";
  show($("#app"));
  show($("#who"));
  document.title = `Operator — ${cpId}`;
  $("#charger-title").textContent = cpId;
  renderAll();
  live.start();
}

function renderAll() {
  renderIdentity();
  renderEditForm();
  renderConnectors();
  renderCommandConnectors();
  const parts = [loadFirmware, loadLocalList, loadSecurity, () => loadMessages(false), loadBookings,
    loadTransactions];
  for (const part of parts) part().catch(() => { /* each part shows its own problem */ });
}

async function refreshCharger() {
  try {
    charger = await client.request("GET", base);
    renderIdentity();
  } catch (failure) { /* keep what is shown */ }
}

// ---- identity -----------------------------------------------------------------------------

async function renderIdentity() {
  const badge = $("#online");
  badge.textContent = charger.online ? "Online" : "Offline";
  badge.className = `badge ${charger.online ? "tone-go" : "tone-off"}`;
  const [identity, profile] = await Promise.all([
    client.request("GET", `${base}/identity`),
    client.request("GET", `${base}/security-profile`).catch(() => null),
  ]);
  const site = sites.find((s) => s.id === charger.site_id);
  const facts = [
    ["Site", site ? `${site.name} (${zone})` : "No site"],
    ["Registration", charger.registration_status],
    ["Connection", charger.online ? `online on node ${charger.connected_node} since ${stamp(charger.connected_at)}` : "offline"],
    ["Last seen", stamp(charger.last_seen_at)],
    ["Charger status", charger.status ? `${charger.status}${charger.error_code && charger.error_code !== "NoError" ? ` (${charger.error_code})` : ""}` : "unknown"],
    ["Vendor", identity.vendor], ["Model", identity.model],
    ["Serial number", identity.serial_number], ["Charge box serial", identity.charge_box_serial_number],
    ["Firmware version", identity.firmware_version], ["Firmware status", charger.firmware_status],
    ["Diagnostics status", charger.diagnostics_status],
    ["Security profile", profile ? `${profile.profile}${profile.pending != null ? ` (raising to ${profile.pending})` : ""}` : null],
    ["Meter", [identity.meter_type, identity.meter_serial_number].filter(Boolean).join(" · ")],
    ["Modem", [identity.iccid && `ICCID ${identity.iccid}`, identity.imsi && `IMSI ${identity.imsi}`].filter(Boolean).join(" · ")],
    ["Booted", stamp(identity.booted_at)],
  ];
  $("#identity-facts").replaceChildren(...facts.flatMap(([name, value]) => [
    h("dt", {}, name), h("dd", { dataset: { fact: name } }, value || "—")]));
}

function renderEditForm() {
  $("#edit-site").replaceChildren(h("option", { value: "" }, "No site"),
    ...sites.map((s) => h("option", { value: String(s.id), selected: s.id === charger.site_id }, s.name)));
  $("#edit-registration").value = charger.registration_status;
}

async function onSaveCharger(event) {
  event.preventDefault();
  const answer = $("#charger-answer");
  const raw = $("#edit-site").value;
  try {
    charger = await client.request("PATCH", base, {
      site_id: raw ? Number(raw) : null, registration_status: $("#edit-registration").value,
    });
    const site = sites.find((s) => s.id === charger.site_id);
    zone = site ? site.timezone : "UTC";
    report(answer, "Saved.", true);
    renderIdentity();
  } catch (failure) {
    if (failure.status !== 401) report(answer, plainMessage(failure), false);
  }
}

async function onRemoveCharger() {
  const answer = $("#charger-answer");
  if (!await confirmWith(`Remove ${cpId}? Its past bookings and transactions stay on record.`, "Remove charger")) return;
  try {
    await client.request("DELETE", base);
    location.assign("/operator");
  } catch (failure) {
    if (failure.status !== 401) report(answer, plainMessage(failure), false);
  }
}

// ---- connectors and their history ---------------------------------------------------------

function renderConnectors() {
  histories.clear();
  const whole = { connector_id: 0, status: charger.status, error_code: charger.error_code, status_at: charger.status_at };
  const rows = [whole, ...charger.connectors].map(connectorRow);
  $("#connectors").replaceChildren(...rows);
  for (const id of histories.keys()) loadHistory(id, false);
}

function statusBadge(status, errorCode) {
  const error = errorCode && errorCode !== "NoError" ? ` (${errorCode})` : "";
  return h("span", { class: `badge tone-${TONES[status] || "off"}`, "data-role": "connector-status" },
    (status || "Unknown") + error);
}

function connectorRow(connector) {
  const id = connector.connector_id;
  const list = h("ol", { class: "history-list", "data-role": "history", "aria-label": `Status history of ${id ? "connector " + id : "the charger"}` });
  const older = h("button", { type: "button", class: "small", hidden: true, onclick: () => loadHistory(id, true) }, "Older changes");
  histories.set(id, { list, older, cursor: null });
  const controls = id === 0 ? [] : connectorControls(connector);
  return h("div", { class: "connector", dataset: { connector: String(id) } },
    h("div", { class: "connector-line" },
      h("span", { class: "name" }, id ? `Connector ${id}` : "Whole charger (0)"),
      id ? h("span", { class: "tag" }, connector.connector_type || "unregistered") : null,
      id && connector.max_power_kw != null ? h("span", { class: "tag" }, `${Number(connector.max_power_kw)} kW`) : null,
      connector.out_of_service ? h("span", { class: "badge tone-bad" }, "out of service") : null,
      statusBadge(connector.status, connector.error_code)),
    ...controls, list, older);
}

function connectorControls(connector) {
  const id = connector.connector_id;
  if (connector.connector_type == null) return [];
  const toggle = h("button", { type: "button", class: "small", onclick: () => changeConnector(id, { out_of_service: !connector.out_of_service }) },
    connector.out_of_service ? "Back in service" : "Take out of service");
  const remove = h("button", { type: "button", class: "small", onclick: () => removeConnector(id) }, "Remove connector");
  return [h("div", { class: "actions connector-actions" }, toggle, remove)];
}

async function changeConnector(id, changes) {
  try {
    charger = await client.request("PATCH", `${base}/connectors/${id}`, changes);
    renderConnectors();
    report($("#connectors-answer"), `Connector ${id} saved.`, true);
  } catch (failure) {
    if (failure.status !== 401) report($("#connectors-answer"), plainMessage(failure), false);
  }
}

async function removeConnector(id) {
  if (!await confirmWith(`Remove connector ${id} of ${cpId}?`, "Remove connector")) return;
  try {
    await client.request("DELETE", `${base}/connectors/${id}`);
    charger = await client.request("GET", base);
    renderConnectors();
    renderCommandConnectors();
    report($("#connectors-answer"), `Connector ${id} removed.`, true);
  } catch (failure) {
    if (failure.status !== 401) report($("#connectors-answer"), plainMessage(failure), false);
  }
}

async function onAddConnector(event) {
  event.preventDefault();
  const body = {
    connector_id: Number($("#new-connector-id").value),
    connector_type: $("#new-connector-type").value.trim(),
    max_power_kw: Number($("#new-connector-power").value),
  };
  try {
    charger = await client.request("POST", `${base}/connectors`, body);
    renderConnectors();
    renderCommandConnectors();
    report($("#connectors-answer"), `Connector ${body.connector_id} added.`, true);
  } catch (failure) {
    if (failure.status !== 401) report($("#connectors-answer"), plainMessage(failure), false);
  }
}

async function loadHistory(id, older) {
  const view = histories.get(id);
  if (!view) return;
  const cursor = older && view.cursor ? `&cursor=${encodeURIComponent(view.cursor)}` : "";
  const page = await client.request("GET", `${base}/status-history?connector_id=${id}&limit=${HISTORY_PAGE}${cursor}`);
  const items = page.items.map((c) => h("li", { dataset: { id: String(c.id), status: c.status } },
    h("time", { datetime: c.at }, stamp(c.at)), " ", statusBadge(c.status, c.error_code),
    [c.info, c.vendor_error_code].filter(Boolean).length ? ` ${[c.info, c.vendor_error_code].filter(Boolean).join(" · ")}` : ""));
  if (older) view.list.append(...items);
  else view.list.replaceChildren(...(items.length ? items : [h("li", { class: "hint" }, "No status reported yet.")]));
  view.cursor = page.next_cursor;
  view.older.hidden = !page.next_cursor;
}

function onConnectorEvent(event) {
  const row = $(`#connectors [data-connector="${event.connector_id}"]`);
  if (!row) {
    refreshCharger().then(() => renderConnectors());
    return;
  }
  row.querySelector('.connector-line [data-role="connector-status"]').replaceWith(statusBadge(event.status, event.error_code));
  loadHistory(event.connector_id, false).catch(() => {});
}

// ---- configuration ------------------------------------------------------------------------

async function onReadConfiguration() {
  const answer = $("#config-answer");
  report(answer, `Asking ${cpId} for its configuration…`, null);
  try {
    const reply = await command("GetConfiguration", {});
    const keys = (reply.configurationKey || []).slice().sort((a, b) => a.key.localeCompare(b.key));
    $("#config-body").replaceChildren(...keys.map(configRow));
    show($("#config-table"), keys.length > 0);
    report(answer, `${cpId} sent ${keys.length} keys.`, true);
  } catch (failure) {
    if (failure.status !== 401) report(answer, plainMessage(failure), false);
  }
}

function configRow(entry) {
  const value = h("td", { "data-role": "value" }, entry.value ?? "—");
  const result = h("span", { class: "config-result", "data-role": "answer", role: "status" });
  let change = h("td", {}, "—");
  if (!entry.readonly) {
    const input = h("input", { type: "text", value: entry.value ?? "", "aria-label": `New value of ${entry.key}`, maxlength: "500" });
    const save = h("button", { type: "button", class: "small", onclick: () => changeKey(entry.key, input.value, result, value) }, "Save");
    change = h("td", { class: "config-edit" }, input, save, result);
  }
  return h("tr", { dataset: { key: entry.key } }, h("th", { scope: "row" }, entry.key), value,
    h("td", {}, entry.readonly ? "read-only" : "writable"), change);
}

// ChangeConfiguration (S 5.3): the charger's answer is shown as it is.
async function changeKey(key, value, result, valueCell) {
  result.textContent = "…";
  result.className = "config-result";
  try {
    const status = answerOf(await command("ChangeConfiguration", { key, value }));
    result.textContent = status;
    result.classList.add(status === "Accepted" || status === "RebootRequired" ? "ok" : "bad");
    if (valueCell && (status === "Accepted" || status === "RebootRequired")) valueCell.textContent = value;
    return status;
  } catch (failure) {
    if (failure.status !== 401) {
      result.textContent = plainMessage(failure);
      result.classList.add("bad");
    }
    return null;
  }
}

async function onChangeAnyKey(event) {
  event.preventDefault();
  const key = $("#config-key").value.trim();
  const element = $("#config-change-answer");
  if (!key) {
    report(element, "Enter the key to change.", false);
    return;
  }
  const result = h("span");
  const row = $(`#config-body tr[data-key="${CSS.escape(key)}"]`);
  const status = await changeKey(key, $("#config-value").value, result, row && row.querySelector('[data-role="value"]'));
  report(element, status ? `${key}: ${cpId} answered ${status}` : `${key}: ${result.textContent}`,
    status === "Accepted" || status === "RebootRequired");
}

// ---- commands -----------------------------------------------------------------------------

function renderCommandConnectors() {
  $("#command-connector").replaceChildren(
    ...charger.connectors.map((c) => h("option", { value: String(c.connector_id) }, `Connector ${c.connector_id}`)),
    h("option", { value: "0" }, "Whole charger (0)"));
}

const COMMANDS = {
  trigger: (id) => ["Trigger message", "TriggerMessage",
    { requestedMessage: $("#trigger-message").value, ...(id > 0 ? { connectorId: id } : {}) }],
  unlock: (id) => {
    if (id < 1) throw new Error("choose a connector to unlock.");
    return ["Unlock", "UnlockConnector", { connectorId: id }];
  },
  available: (id) => ["Make available", "ChangeAvailability", { connectorId: id, type: "Operative" }],
  unavailable: (id) => ["Make unavailable", "ChangeAvailability", { connectorId: id, type: "Inoperative" }],
  "clear-cache": () => ["Clear cache", "ClearCache", {}],
  "soft-reset": () => ["Soft reset", "Reset", { type: "Soft" }],
  "hard-reset": () => ["Hard reset", "Reset", { type: "Hard" }],
};

async function onCommand(event) {
  const button = event.target.closest("button[data-command]");
  if (!button) return;
  const answer = $("#command-answer");
  let label, action, payload;
  try {
    [label, action, payload] = COMMANDS[button.dataset.command](Number($("#command-connector").value));
  } catch (failure) {
    report(answer, failureText(failure), false);
    return;
  }
  if (action === "Reset" && payload.type === "Hard"
      && !await confirmWith(`Hard reset ${cpId}? It restarts at once; a running session is stopped.`, "Hard reset")) {
    report(answer, "Hard reset: not sent.", null);
    return;
  }
  button.disabled = true;
  report(answer, `${label}: waiting for ${cpId}…`, null);
  try {
    const status = answerOf(await command(action, payload));
    report(answer, `${label}: ${cpId} answered ${status}`, ANSWER_OK.includes(status));
  } catch (failure) {
    if (failure.status !== 401) report(answer, `${label}: ${plainMessage(failure)}`, false);
  } finally {
    button.disabled = false;
  }
}

// ---- firmware, diagnostics, local list, security events -----------------------------------

async function loadFirmware() {
  const [images, updates, diagnostics] = await Promise.all([
    client.request("GET", "/api/v1/firmware?limit=100"),
    client.request("GET", `${base}/firmware-updates?limit=${PAGE}`),
    client.request("GET", `${base}/diagnostics?limit=${PAGE}`),
  ]);
  $("#firmware-image").replaceChildren(...(images.items.length
    ? images.items.map((f) => h("option", { value: String(f.id) }, `${f.name} (${f.size_bytes} bytes)`))
    : [h("option", { value: "" }, "No firmware uploaded")]));
  $("#firmware-updates").replaceChildren(...(updates.items.length ? updates.items.map((u) => h("li", { dataset: { id: String(u.id) } },
    `Firmware ${u.firmware.name} · requested ${stamp(u.requested_at)} · `, h("strong", {}, u.status || "sent"),
    u.status_at ? ` (${stamp(u.status_at)})` : "")) : [h("li", { class: "hint" }, "No firmware updates yet.")]));
  $("#diagnostics").replaceChildren(...(diagnostics.items.length ? diagnostics.items.map(diagnosticsItem)
    : [h("li", { class: "hint" }, "No diagnostics requested yet.")]));
}

function diagnosticsItem(d) {
  const download = d.file ? h("button", { type: "button", class: "small", onclick: () => downloadDiagnostics(d) }, "Download") : null;
  return h("li", { dataset: { id: String(d.id) } },
    `${d.log_type || "Diagnostics"} · requested ${stamp(d.requested_at)} · `, h("strong", {}, d.status || "requested"),
    d.file_name ? ` · ${d.file_name}` : "", " ", download);
}

async function downloadDiagnostics(d) {
  // The file needs the bearer token, so it is fetched here and handed over as a blob.
  const response = await fetch(`/api/v1/diagnostics/${d.id}/file`, { headers: { Authorization: "Bearer " + client.token } });
  if (!response.ok) {
    report($("#files-answer"), "The diagnostics file could not be fetched.", false);
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: d.file.name || `diagnostics-${d.id}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function onUpdateFirmware(event) {
  event.preventDefault();
  const id = Number($("#firmware-image").value);
  if (!id) {
    report($("#files-answer"), "Upload a firmware image first (POST /api/v1/firmware).", false);
    return;
  }
  await fileRequest("Firmware update", `${base}/firmware-updates`, { firmware_id: id });
}

async function fileRequest(label, path, body) {
  try {
    await client.request("POST", path, body);
    report($("#files-answer"), `${label}: sent to ${cpId}.`, true);
    await loadFirmware();
  } catch (failure) {
    if (failure.status !== 401) report($("#files-answer"), `${label}: ${plainMessage(failure)}`, false);
  }
}

async function loadLocalList() {
  const list = await client.request("GET", `${base}/local-list`);
  const state = !list.enabled ? "csms does not manage local lists here"
    : list.managed === false ? "the charger does not support local lists"
      : list.in_step ? "in step" : list.problem ? `behind: ${list.problem}` : "behind (being brought up to date)";
  const facts = [
    ["State", state],
    ["Version on the charger", list.version ?? "none yet"],
    ["Entries", list.entries ?? "—"],
    ["Current version", list.current_version],
    ["Last attempt", stamp(list.synced_at)],
  ];
  $("#local-list-facts").replaceChildren(...facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]));
}

async function loadSecurity(older = false) {
  const cursor = older && securityCursor ? `&cursor=${encodeURIComponent(securityCursor)}` : "";
  const page = await client.request("GET", `${base}/security-events?limit=${PAGE}${cursor}`);
  const items = page.items.map((e) => h("li", { class: e.critical ? "critical" : "" },
    h("time", { datetime: e.occurred_at }, stamp(e.occurred_at)), " ", h("strong", {}, e.type),
    e.critical ? h("span", { class: "badge tone-bad" }, "critical") : null, e.tech_info ? ` · ${e.tech_info}` : ""));
  if (older) $("#security-events").append(...items);
  else $("#security-events").replaceChildren(...(items.length ? items : [h("li", { class: "hint" }, "No security events.")]));
  securityCursor = page.next_cursor;
  show($("#security-older"), Boolean(page.next_cursor));
}

// ---- message log --------------------------------------------------------------------------

async function loadMessages(older) {
  const action = $("#messages-action").value.trim();
  const query = [`limit=${PAGE}`];
  if (action) query.push(`action=${encodeURIComponent(action)}`);
  if (older && messagesCursor) query.push(`cursor=${encodeURIComponent(messagesCursor)}`);
  const page = await client.request("GET", `${base}/messages?${query.join("&")}`);
  const rows = page.items.map(messageRow);
  if (older) $("#messages-body").append(...rows);
  else $("#messages-body").replaceChildren(...rows);
  messagesCursor = page.next_cursor;
  show($("#messages-older"), Boolean(page.next_cursor));
  show($("#messages-empty"), !$("#messages-body").children.length);
}

function messageRow(m) {
  const text = typeof m.payload === "string" ? m.payload : JSON.stringify(m.payload);
  const payload = text.length > 80
    ? h("details", {}, h("summary", {}, text.slice(0, 60) + "…"), h("pre", {}, JSON.stringify(m.payload, null, 2)))
    : h("code", {}, text);
  return h("tr", { dataset: { id: String(m.id), direction: m.direction } },
    h("td", {}, h("time", { datetime: m.at }, stamp(m.at))),
    h("td", {}, m.direction === "in" ? "← from charger" : "→ to charger"),
    h("td", {}, m.message_type), h("td", { "data-role": "action" }, m.action || "—"),
    h("td", { class: "message-id" }, m.message_id), h("td", { class: "payload" }, payload));
}

// ---- bookings and transactions ------------------------------------------------------------

async function loadBookings() {
  const page = await client.request("GET", `/api/v1/reservations?all=true&charge_point_id=${encodeURIComponent(cpId)}&limit=${PAGE}`);
  $("#bookings-list").replaceChildren(...(page.items.length ? page.items.map((r) => h("li", { dataset: { id: String(r.id) } },
    `#${r.id} · connector ${r.connector_id} · ${stamp(r.start)} – ${stamp(r.end)} · `, h("strong", {}, r.status),
    r.status_reason ? ` (${r.status_reason})` : "")) : [h("li", { class: "hint" }, "No bookings.")]));
}

async function loadTransactions() {
  const page = await client.request("GET", `/api/v1/transactions?charge_point_id=${encodeURIComponent(cpId)}&limit=${PAGE}`);
  $("#transactions-list").replaceChildren(...(page.items.length ? page.items.map((t) => h("li", { dataset: { id: String(t.id) } },
    `#${t.id} · connector ${t.connector_id} · ${stamp(t.started_at)} – `, t.stopped_at ? stamp(t.stopped_at) : h("strong", {}, "running"),
    t.energy_wh != null ? ` · ${formatKwh(Number(t.energy_wh) / 1000)}` : "",
    t.reservation_id != null ? ` · booking #${t.reservation_id}` : ` · ${t.id_tag}`)) : [h("li", { class: "hint" }, "No transactions.")]));
}

// ---- wiring -------------------------------------------------------------------------------

$("#auth-form").addEventListener("submit", onAuthSubmit);
$("#sign-out").addEventListener("click", async () => { await client.signOut(); showAuth("You are signed out."); });
$("#charger-form").addEventListener("submit", onSaveCharger);
$("#remove-charger").addEventListener("click", onRemoveCharger);
$("#connector-form").addEventListener("submit", onAddConnector);
$("#config-read").addEventListener("click", onReadConfiguration);
$("#config-change").addEventListener("submit", onChangeAnyKey);
$("#commands").addEventListener("click", onCommand);
$("#firmware-form").addEventListener("submit", onUpdateFirmware);
$("#diagnostics-request").addEventListener("click", () => fileRequest("Diagnostics", `${base}/diagnostics`, {}));
$("#security-older").addEventListener("click", () => loadSecurity(true).catch(() => {}));
$("#messages-older").addEventListener("click", () => loadMessages(true).catch(() => {}));
$("#messages-refresh").addEventListener("click", () => loadMessages(false).catch(() => {}));
$("#messages-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  loadMessages(false).catch((failure) => { if (failure.status !== 401) setMessage($("#notice"), plainMessage(failure)); });
});

if (client.token) enterApp();
else showAuth();
