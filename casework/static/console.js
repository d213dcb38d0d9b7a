// Caseline console: live queue (server-sent events, polling fallback), SLA countdowns,
// canned replies and a heartbeat that keeps the worker's claims alive. No framework.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value == null ? "" : String(value);
    if (cls) el.className = cls;
    return el;
  }

  function fmtTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.toISOString().slice(0, 16).replace("T", " ");
  }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("td.sla").forEach(function (td) {
      var due = td.getAttribute("data-due");
      if (!due || td.getAttribute("data-done")) return;
      var left = Math.round((new Date(due).getTime() - now) / 1000);
      var sign = left < 0 ? "-" : "";
      var abs = Math.abs(left);
      var label = sign + Math.floor(abs / 60) + "m " + ("0" + (abs % 60)).slice(-2) + "s";
      td.textContent = left < 0 ? "overdue " + label : label + " left";
      td.classList.toggle("overdue", left < 0);
    });
  }

  function renderQueue(cases) {
    var body = document.querySelector("#queue tbody");
    if (!body) return;
    body.textContent = "";
    if (!cases.length) {
      var tr0 = document.createElement("tr");
      var td0 = text("td", "No open cases.");
      td0.colSpan = 7;
      tr0.appendChild(td0);
      body.appendChild(tr0);
    }
    cases.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.className = "sev-" + c.severity;
      tr.setAttribute("data-case", c.id);
      var sev = document.createElement("td");
      sev.appendChild(text("span", c.severity, "badge sev-" + c.severity));
      tr.appendChild(sev);
      var link = document.createElement("td");
      var a = text("a", c.id);
      a.href = "/console/cases/" + encodeURIComponent(c.id);
      link.appendChild(a);
      tr.appendChild(link);
      tr.appendChild(text("td", c.status));
      tr.appendChild(text("td", c.assignee || ""));
      tr.appendChild(text("td", c.channel));
      tr.appendChild(text("td", fmtTime(c.opened_at)));
      var sla = text("td", fmtTime(c.sla_due), "sla");
      sla.setAttribute("data-due", c.sla_due || "");
      if (c.first_response_at) sla.setAttribute("data-done", "1");
      tr.appendChild(sla);
      body.appendChild(tr);
    });
    countdowns();
  }

  function refreshQueue() {
    return fetch("/api/v1/cases", {credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) { location.href = "/console/login"; return null; }
      return r.json();
    }).then(function (d) { if (d) renderQueue(d.cases); });
  }

  function onEvent(ev) {
    if (page === "queue") refreshQueue();
    if (page === "case") {
      var id = location.pathname.split("/").pop();
      var box = document.getElementById("reply-text");
      if (ev.case_id === id && (!box || !box.value) && document.activeElement.tagName !== "TEXTAREA") {
        location.reload();
      }
    }
  }

  function live() {
    var status = document.getElementById("live-status");
    var poll = null;
    function startPolling() {
      if (poll || page !== "queue") return;
      if (status) status.textContent = "Live updates unavailable; refreshing every 5 seconds.";
      poll = setInterval(refreshQueue, 5000);
    }
    if (!window.EventSource) { startPolling(); return; }
    var source = new EventSource("/console/events");
    source.onmessage = function (m) {
      try { onEvent(JSON.parse(m.data)); } catch (err) { /* ignore a malformed event */ }
    };
    source.onopen = function () {
      if (poll) { clearInterval(poll); poll = null; }
      if (status) status.textContent = "Live.";
    };
    source.onerror = startPolling;
  }

  function heartbeat() {
    fetch("/api/v1/heartbeat", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}});
  }

  function canned() {
    var select = document.getElementById("canned");
    var box = document.getElementById("reply-text");
    if (!select || !box) return;
    select.addEventListener("change", function () { if (select.value) box.value = select.value; });
  }

  if (page === "queue" || page === "case") {
    live();
    countdowns();
    setInterval(countdowns, 1000);
    setInterval(heartbeat, 60000);
    ["keydown", "click"].forEach(function (name) {
      var last = 0;
      document.addEventListener(name, function () {
        if (Date.now() - last > 30000) { last = Date.now(); heartbeat(); }
      });
    });
  }
  canned();
})();
