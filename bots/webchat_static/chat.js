// Caseline web chat: no framework, works over poor connections (WebSocket, else polling).
(function () {
  "use strict";
  var KEY = "caseline.session";
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var seen = {};
  var lastId = 0;
  var session = null;
  var pollTimer = null;

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function add(text, who) {
    var li = document.createElement("li");
    li.className = who;
    li.textContent = text;
    log.appendChild(li);
    li.scrollIntoView({block: "end"});
    return li;
  }

  function render(msg) {
    if (seen[msg.id]) return;
    seen[msg.id] = true;
    if (msg.id > lastId) lastId = msg.id;
    var li = add(msg.text, "bot");
    li.setAttribute("data-id", msg.id);
    var choices = (msg.buttons && msg.buttons.length ? msg.buttons : msg.list_items) || [];
    if (!choices.length) return;
    var box = document.createElement("div");
    box.className = "choices";
    choices.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = c.title;
      b.addEventListener("click", function () { send({payload: c.payload}, c.title); });
      box.appendChild(b);
    });
    li.appendChild(box);
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      headers: body ? {"Content-Type": "application/json"} : {},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
        return data;
      });
    });
  }

  function start() {
    session = localStorage.getItem(KEY);
    if (session) return Promise.resolve(session);
    return api("POST", "/webchat/sessions", {}).then(function (d) {
      session = d.session_id;
      localStorage.setItem(KEY, session);
      return session;
    });
  }

  function send(body, shown) {
    add(shown, "me");
    body.session_id = session;
    body.client_message_id = uid();
    body.lang = (navigator.language || "en").slice(0, 2);
    var attempt = function (n) {
      return api("POST", "/webchat/messages", body).then(function (d) {
        d.replies.forEach(render);
      }).catch(function (err) {
        if (n < 3) return new Promise(function (res) { setTimeout(res, 1500 * (n + 1)); }).then(function () { return attempt(n + 1); });
        add("Not sent: " + err.message + ". Please try again.", "sys");
      });
    };
    return attempt(0);
  }

  function poll() {
    if (!session) return;
    api("GET", "/webchat/messages?session_id=" + encodeURIComponent(session) + "&after=" + lastId)
      .then(function (d) { d.messages.forEach(render); })
      .catch(function () {});
  }

  function connect() {
    if (!window.WebSocket) { pollTimer = setInterval(poll, 5000); return; }
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/webchat/ws?session_id=" + encodeURIComponent(session));
    ws.onmessage = function (e) { try { render(JSON.parse(e.data)); } catch (err) { /* ignore */ } };
    ws.onopen = function () { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } poll(); };
    ws.onclose = function () {
      if (!pollTimer) pollTimer = setInterval(poll, 5000);
      setTimeout(connect, 10000);
    };
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({text: text}, text);
  });

  document.getElementById("quick-exit").addEventListener("click", function () {
    try { localStorage.clear(); sessionStorage.clear(); } catch (err) { /* ignore */ }
    log.innerHTML = "";
    location.replace(this.getAttribute("data-href"));
  });

  start().then(function () { poll(); connect(); }).catch(function () {
    add("Cannot reach the service. Please check your connection.", "sys");
  });
})();
