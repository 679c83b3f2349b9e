/* ITM console: progressive enhancement only (every page works without this script).
   - live notifications: EventSource on /notifications/stream (same origin), bell count and a toast per push;
     the browser resumes with Last-Event-ID after a reconnect;
   - skill autocomplete: inputs with data-autocomplete fill their <datalist> from /api/skills?q=.
   Written for this project, no dependencies; Apache-2.0 like the rest of ITM. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ bell + toasts
  var bell = document.getElementById("bell");
  var count = document.getElementById("bell-count");

  function setUnread(n) {
    if (!count) return;
    count.textContent = String(n);
    count.hidden = n <= 0;
    if (bell) bell.setAttribute("aria-label", n > 0 ? "Notifications, " + n + " unread" : "Notifications");
  }

  function unread() { return count ? parseInt(count.textContent || "0", 10) || 0 : 0; }

  function toast(note) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = el("div", { "class": "toast", "data-id": note.id, "id": "toast-" + note.id.replace(/[^0-9a-z-]/gi, ""),
                        "data-opportunity": note.opportunity_id || "" });
    t.appendChild(el("strong", {}, note.title));
    t.appendChild(el("span", {}, note.body));
    if (note.link) {
      var a = el("a", { href: note.link }, "Open");
      t.appendChild(document.createTextNode(" "));
      t.appendChild(a);
    }
    var close = el("button", { type: "button", "class": "toast-close", "aria-label": "Dismiss" }, "×");
    close.addEventListener("click", function () { t.remove(); });
    t.appendChild(close);
    box.appendChild(t);
    // toasts stay until dismissed (no time limit to read them, WCAG 2.2.1); the oldest go beyond four
    while (box.children.length > 4) box.removeChild(box.firstChild);
  }

  function prependToInbox(note) {
    var list = document.getElementById("notifications");
    if (!list || document.getElementById("note-" + note.id)) return;
    var li = el("li", { "class": "card note unread", id: "note-" + note.id, "data-id": note.id });
    var head = el("div", { "class": "match-head" });
    head.appendChild(el("h2", {}, note.title));
    head.appendChild(el("span", { "class": "badge new" }, "new"));
    li.appendChild(head);
    li.appendChild(el("p", {}, note.body));
    if (note.link) { var p = el("p"); p.appendChild(el("a", { href: note.link }, "Open the opportunity")); li.appendChild(p); }
    list.insertBefore(li, list.firstChild);
    var empty = document.getElementById("no-notifications");
    if (empty) empty.remove();
  }

  if (body.dataset.signedIn && window.EventSource) {
    var seen = {};
    // what the page already counts is not toasted again: the stream starts at the page's render time
    var source = new EventSource("/notifications/stream?since=" + encodeURIComponent(body.dataset.now || ""));
    source.addEventListener("notification", function (ev) {
      var note;
      try { note = JSON.parse(ev.data); } catch (e) { return; }
      if (seen[note.id]) return;
      seen[note.id] = true;
      if (!note.read) setUnread(unread() + 1);
      toast(note);
      prependToInbox(note);
      document.dispatchEvent(new CustomEvent("itm:notification", { detail: note }));
    });
    source.addEventListener("resync", function () {
      fetch("/api/notifications/unread", { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) { if (j) setUnread(j.unread); });
    });
    window.addEventListener("pagehide", function () { source.close(); });
    body.dataset.live = "1";
  }

  // ------------------------------------------------------------------ skill autocomplete
  Array.prototype.forEach.call(document.querySelectorAll("input[data-autocomplete]"), function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null, last = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!list || q.length < 1 || q === last) return;
      timer = setTimeout(function () {
        last = q;
        fetch(input.dataset.autocomplete + "?q=" + encodeURIComponent(q), {
          headers: { Accept: "application/json" }, credentials: "same-origin"
        }).then(function (r) { return r.ok ? r.json() : { skills: [] }; }).then(function (j) {
          list.innerHTML = "";
          (j.skills || []).forEach(function (s) {
            var opt = el("option", { value: s.name });
            opt.textContent = s.category ? s.name + " (" + s.category + ")" : s.name;
            list.appendChild(opt);
          });
        }).catch(function () {});
      }, 150);
    });
  });

  // ------------------------------------------------------------------ live page parts
  // Elements with data-live-refresh are re-read from the server when a push arrives (the page's own URL,
  // same element id), so a match's score and explanation change in place without a reload.
  var refreshing = null;
  document.addEventListener("itm:notification", function () {
    var parts = document.querySelectorAll("[data-live-refresh]");
    if (!parts.length || refreshing) return;
    refreshing = setTimeout(function () {
      refreshing = null;
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          Array.prototype.forEach.call(parts, function (part) {
            var next = fresh.getElementById(part.id);
            if (next && next.innerHTML !== part.innerHTML) {
              part.innerHTML = next.innerHTML;
              part.classList.remove("updated");
              void part.offsetWidth;
              part.classList.add("updated");
            }
          });
          document.dispatchEvent(new CustomEvent("itm:refreshed"));
        }).catch(function () {});
    }, 300);
  });

  window.ITM = { csrf: csrf, setUnread: setUnread, toast: toast };
})();
