// The operator page's management forms: sites (name, address, coordinates, time zone) and
// their tariff, cards (id tags), and drivers' bookings (cancel, move). Every destructive action
// asks first through the page's <dialog>; every answer of the API is said in plain words.
import {
  $, debounce, formatWindow, h, hhmm, isoDate, nextDay, plainMessage, setMessage, show,
  wallClock, zonedInstant,
} from "./api.js";

const WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LIVE = ["booked", "active", "charging"];
const MOVABLE = ["booked", "active"];

export class Manage {
  // `confirm(text, yesLabel)` resolves true when the person confirms; `sitesChanged()` tells
  // the rest of the page to read the sites again.
  constructor(client, confirm, { sitesChanged }) {
    this.client = client;
    this.confirm = confirm;
    this.sitesChanged = sitesChanged;
    this.sites = [];
    this.editing = null; // the site whose details the form edits (null: a new one)
    this.tariffSite = null;
    this.reloadBookings = debounce(() => this.loadBookings().catch(() => {}), 400);
    $("#site-form").addEventListener("submit", (event) => this.saveSite(event));
    $("#site-new").addEventListener("click", () => this.editSite(null));
    $("#tariff-form").addEventListener("submit", (event) => this.saveTariff(event));
    $("#tariff-close").addEventListener("click", () => show($("#tariff-form"), false));
    $("#card-form").addEventListener("submit", (event) => this.addCard(event));
    $("#bookings-refresh").addEventListener("click", () => this.loadBookings().catch(() => {}));
  }

  async loadRest() {
    await Promise.all([this.loadCards(), this.loadBookings()]);
  }

  // An answer the person must read: a failure in words (a 401 is handled by the client).
  fail(element, failure) {
    if (failure.status !== 401) setMessage(element, plainMessage(failure));
  }

  // ---- sites ----------------------------------------------------------------------------

  showSites(sites) {
    this.sites = sites;
    $("#site-list").replaceChildren(...(sites.length ? sites.map((site) => this.siteItem(site))
      : [h("li", { class: "hint" }, "No sites yet.")]));
  }

  siteItem(site) {
    const where = [site.address, site.latitude != null ? `${site.latitude}, ${site.longitude}` : null]
      .filter(Boolean).join(" · ");
    return h("li", { dataset: { siteId: String(site.id) } },
      h("div", { class: "manage-line" },
        h("strong", {}, site.name), h("span", { class: "tag" }, site.timezone),
        site.problems.includes("no_tariff")
          ? h("span", { class: "badge tone-bad", "data-role": "problems" }, "No tariff: cannot be booked")
          : h("span", { class: "badge tone-go", "data-role": "problems" }, "Bookable")),
      where ? h("p", { class: "hint" }, where) : null,
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "small", onclick: () => this.editSite(site) }, `Edit ${site.name}`),
        h("button", { type: "button", class: "small", onclick: () => this.openTariff(site) }, `Tariff of ${site.name}`),
        h("button", { type: "button", class: "small danger", onclick: () => this.removeSite(site) }, `Remove ${site.name}`)));
  }

  editSite(site) {
    this.editing = site;
    $("#site-form-title").textContent = site ? `Edit ${site.name}` : "New site";
    $("#site-save").textContent = site ? "Save site" : "Add site";
    show($("#site-new"), Boolean(site));
    $("#site-name").value = site ? site.name : "";
    $("#site-timezone").value = site ? site.timezone : "Europe/Berlin";
    $("#site-address").value = site && site.address ? site.address : "";
    $("#site-latitude").value = site && site.latitude != null ? String(site.latitude) : "";
    $("#site-longitude").value = site && site.longitude != null ? String(site.longitude) : "";
    setMessage($("#site-error"), "");
    setMessage($("#site-done"), "");
    $("#site-name").focus();
  }

  siteFields() {
    const number = (id, name) => {
      const text = $(id).value.trim();
      if (!text) return null;
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`${name} must be a number.`);
      return value;
    };
    const body = {
      name: $("#site-name").value.trim(),
      timezone: $("#site-timezone").value.trim(),
      address: $("#site-address").value.trim() || null,
      latitude: number("#site-latitude", "Latitude"),
      longitude: number("#site-longitude", "Longitude"),
    };
    if (!body.name || !body.timezone) throw new Error("Give the site a name and a time zone.");
    if ((body.latitude === null) !== (body.longitude === null)) throw new Error("Give both coordinates, or neither.");
    return body;
  }

  async saveSite(event) {
    event.preventDefault();
    const error = $("#site-error");
    let body;
    try {
      body = this.siteFields();
    } catch (failure) {
      setMessage(error, failure.message);
      return;
    }
    const editing = this.editing;
    try {
      const site = editing
        ? await this.client.request("PATCH", `/api/v1/sites/${editing.id}`, body)
        : await this.client.request("POST", "/api/v1/sites", Object.fromEntries(
          Object.entries(body).filter(([, value]) => value !== null)));
      setMessage(error, "");
      this.editSite(null);
      setMessage($("#site-done"), editing ? `Saved ${site.name}.` : `Added ${site.name}.`);
      await this.sitesChanged();
    } catch (failure) {
      this.fail(error, failure);
    }
  }

  async removeSite(site) {
    const error = $("#site-error");
    if (!(await this.confirm(`Remove the site ${site.name} and its tariff?`, "Remove site"))) return;
    try {
      await this.client.request("DELETE", `/api/v1/sites/${site.id}`);
      setMessage(error, "");
      setMessage($("#site-done"), `Removed ${site.name}.`);
      if (this.editing && this.editing.id === site.id) this.editSite(null);
      await this.sitesChanged();
    } catch (failure) {
      this.fail(error, failure);
    }
  }

  // ---- tariffs (one price all week: the page's simple form of PUT .../tariff) ---------------

  async openTariff(site) {
    this.tariffSite = site;
    $("#tariff-title").textContent = `Tariff of ${site.name}`;
    setMessage($("#tariff-error"), "");
    const form = $("#tariff-form");
    const remove = form.querySelector("[data-role=remove-tariff]");
    if (remove) remove.remove();
    if (site.has_tariff) {
      try {
        const tariff = await this.client.request("GET", `/api/v1/sites/${site.id}/tariff`);
        const period = tariff.periods[0] || {};
        $("#tariff-currency").value = tariff.currency;
        $("#tariff-fee").value = tariff.reservation_fee_per_hour;
        $("#tariff-session").value = tariff.session_fee;
        $("#tariff-energy").value = period.energy_price_per_kwh || "0";
        $("#tariff-time").value = period.time_price_per_hour || "0";
      } catch (failure) {
        this.fail($("#tariff-error"), failure);
      }
      form.querySelector(".actions").append(h("button", {
        type: "button", class: "danger", "data-role": "remove-tariff", onclick: () => this.removeTariff(site),
      }, "Remove tariff"));
    }
    show(form);
    $("#tariff-energy").focus();
  }

  async saveTariff(event) {
    event.preventDefault();
    const site = this.tariffSite;
    const body = {
      currency: $("#tariff-currency").value.trim().toUpperCase(),
      reservation_fee_per_hour: $("#tariff-fee").value.trim(),
      session_fee: $("#tariff-session").value.trim(),
      periods: [{
        days: WEEK, start: "00:00", end: "24:00",
        energy_price_per_kwh: $("#tariff-energy").value.trim(),
        time_price_per_hour: $("#tariff-time").value.trim() || "0",
      }],
    };
    try {
      await this.client.request("PUT", `/api/v1/sites/${site.id}/tariff`, body);
      show($("#tariff-form"), false);
      setMessage($("#site-done"), `Saved the tariff of ${site.name}.`);
      await this.sitesChanged();
    } catch (failure) {
      this.fail($("#tariff-error"), failure);
    }
  }

  async removeTariff(site) {
    const text = `Remove the tariff of ${site.name}? The site cannot be booked without one.`;
    if (!(await this.confirm(text, "Remove tariff"))) return;
    try {
      await this.client.request("DELETE", `/api/v1/sites/${site.id}/tariff`);
      show($("#tariff-form"), false);
      setMessage($("#site-done"), `Removed the tariff of ${site.name}.`);
      await this.sitesChanged();
    } catch (failure) {
      this.fail($("#tariff-error"), failure);
    }
  }

  // ---- cards ----------------------------------------------------------------------------

  async loadCards() {
    const answer = await this.client.request("GET", "/api/v1/id-tags?limit=200");
    const items = answer.items.map((tag) => this.cardItem(tag));
    $("#card-list").replaceChildren(...(items.length ? items : [h("li", { class: "hint" }, "No cards yet.")]));
    if (answer.next_cursor) $("#card-list").append(h("li", { class: "hint" }, "The first 200 cards are shown."));
  }

  cardItem(tag) {
    const facts = [tag.parent_id_tag && `group ${tag.parent_id_tag}`,
      tag.expiry_date ? `valid until ${tag.expiry_date.slice(0, 10)}` : "never expires"].filter(Boolean).join(" · ");
    return h("li", { dataset: { idTag: tag.id_tag } },
      h("div", { class: "manage-line" }, h("strong", {}, tag.id_tag),
        h("span", { class: `badge ${tag.blocked ? "tone-bad" : "tone-go"}`, "data-role": "blocked" }, tag.blocked ? "Blocked" : "Usable")),
      h("p", { class: "hint" }, facts),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "small", onclick: () => this.setBlocked(tag, !tag.blocked) },
          `${tag.blocked ? "Unblock" : "Block"} ${tag.id_tag}`),
        h("button", { type: "button", class: "small danger", onclick: () => this.removeCard(tag) }, `Remove ${tag.id_tag}`)));
  }

  async addCard(event) {
    event.preventDefault();
    const error = $("#card-error");
    const idTag = $("#card-id").value.trim();
    if (!idTag) {
      setMessage(error, "Enter the card's id.");
      return;
    }
    const body = { id_tag: idTag };
    const parent = $("#card-parent").value.trim();
    if (parent) body.parent_id_tag = parent;
    if ($("#card-expiry").value) body.expiry_date = `${$("#card-expiry").value}T23:59:59Z`;
    try {
      await this.client.request("POST", "/api/v1/id-tags", body);
      setMessage(error, "");
      $("#card-form").reset();
      await this.loadCards();
    } catch (failure) {
      this.fail(error, failure);
    }
  }

  async setBlocked(tag, blocked) {
    try {
      await this.client.request("PATCH", `/api/v1/id-tags/${encodeURIComponent(tag.id_tag)}`, { blocked });
      setMessage($("#card-error"), "");
      await this.loadCards();
    } catch (failure) {
      this.fail($("#card-error"), failure);
    }
  }

  async removeCard(tag) {
    if (!(await this.confirm(`Remove the card ${tag.id_tag}? It stops working at every charger.`, "Remove card"))) return;
    try {
      await this.client.request("DELETE", `/api/v1/id-tags/${encodeURIComponent(tag.id_tag)}`);
      setMessage($("#card-error"), "");
      await this.loadCards();
    } catch (failure) {
      this.fail($("#card-error"), failure);
    }
  }

  // ---- bookings -------------------------------------------------------------------------

  async loadBookings() {
    const from = new Date().toISOString();
    const answer = await this.client.request("GET",
      `/api/v1/reservations?all=true&limit=200&from=${encodeURIComponent(from)}`);
    const live = answer.items.filter((r) => LIVE.includes(r.status))
      .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    $("#booking-list").replaceChildren(...live.map((r) => this.bookingItem(r)));
    show($("#bookings-empty"), live.length === 0);
  }

  bookingChanged(event) {
    if (event.status && (LIVE.includes(event.status) || $(`#booking-list li[data-id="${event.id}"]`))) this.reloadBookings();
  }

  bookingItem(r) {
    const zone = r.timezone;
    const answer = h("p", { class: "answer", role: "status", hidden: true });
    const item = h("li", { dataset: { id: String(r.id), status: r.status } },
      h("div", { class: "manage-line" }, h("strong", {}, `Booking #${r.id}`),
        h("span", { class: "badge tone-warn", "data-role": "status" }, r.status)),
      h("p", { "data-role": "where" }, `${r.charge_point_id} · connector ${r.connector_id} · ${formatWindow(r.start, r.end, zone)} (${zone})`),
      h("div", { class: "row-actions" },
        MOVABLE.includes(r.status)
          ? h("button", { type: "button", class: "small", onclick: () => this.openMove(item, r, answer) }, `Move booking #${r.id}`) : null,
        MOVABLE.includes(r.status)
          ? h("button", { type: "button", class: "small danger", onclick: () => this.cancelBooking(r, answer) }, `Cancel booking #${r.id}`) : null),
      answer);
    return item;
  }

  async cancelBooking(r, answer) {
    const text = `Cancel booking #${r.id} at ${r.charge_point_id}? Its driver's code stops working.`;
    if (!(await this.confirm(text, "Cancel booking"))) return;
    try {
      await this.client.request("DELETE", `/api/v1/reservations/${r.id}`);
      await this.loadBookings();
    } catch (failure) {
      if (failure.status !== 401) setAnswer(answer, plainMessage(failure), false);
    }
  }

  openMove(item, r, answer) {
    const old = item.querySelector("form");
    if (old) {
      old.remove();
      return;
    }
    const zone = r.timezone;
    const start = wallClock(Date.parse(r.start), zone);
    const end = wallClock(Date.parse(r.end), zone);
    const id = `move-${r.id}`;
    const field = (name, label, attributes) => h("div", {},
      h("label", { for: `${id}-${name}` }, label), h("input", { id: `${id}-${name}`, name, ...attributes }));
    const form = h("form", { class: "manage-form move-form", novalidate: true },
      h("div", { class: "inline-fields" },
        field("date", `Date (${zone})`, { type: "date", value: isoDate(start) }),
        field("from", "From", { type: "time", value: hhmm(start) }),
        field("until", "Until", { type: "time", value: hhmm(end) }),
        field("charger", "Charger", { type: "text", value: r.charge_point_id, maxlength: "48", autocomplete: "off" }),
        field("connector", "Connector", { type: "number", value: String(r.connector_id), min: "1", max: "999" })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save move")));
    form.addEventListener("submit", (event) => this.move(event, r, answer));
    item.insertBefore(form, answer);
    form.querySelector("input").focus();
  }

  async move(event, r, answer) {
    event.preventDefault();
    const form = event.currentTarget;
    const value = (name) => form.elements[name].value.trim();
    const zone = r.timezone;
    if (!value("date") || !value("from") || !value("until")) {
      setAnswer(answer, "Choose a date, a start time and an end time.", false);
      return;
    }
    const start = zonedInstant(value("date"), value("from"), zone);
    let end = zonedInstant(value("date"), value("until"), zone);
    if (end <= start) end = zonedInstant(nextDay(value("date")), value("until"), zone);
    const body = { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
    if (value("charger") !== r.charge_point_id) body.charge_point_id = value("charger");
    if (Number(value("connector")) !== r.connector_id) body.connector_id = Number(value("connector"));
    try {
      const moved = await this.client.request("PATCH", `/api/v1/reservations/${r.id}`, body);
      await this.loadBookings();
      const item = $(`#booking-list li[data-id="${moved.id}"]`);
      if (item) setAnswer(item.querySelector(".answer"), `Moved booking #${moved.id}.`, true);
    } catch (failure) {
      if (failure.status !== 401) setAnswer(answer, plainMessage(failure), false);
    }
  }
}

function setAnswer(element, text, ok) {
  element.textContent = text;
  element.className = "answer" + (ok ? " ok" : " bad");
  element.hidden = false;
}
