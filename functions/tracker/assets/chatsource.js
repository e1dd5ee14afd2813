// chatsource site script: records the visit (landing page, referrer, UTM tags, click ids, the
// browser's Metrika and Google Analytics ids) and hands its session id to the chat widgets on
// the page, so every chat carries the ad session that brought the visitor. Served per site by
// GET /t/{site_id}/script.js, which drops the lines that hold only a comment and the
// indentation: keep comments on lines of their own.
(function (w, d) {
  "use strict";
  if (w.chatsource && w.chatsource.loaded) return;
  var C = __CONFIG__;
  var KEY = "chatsource:" + C.site;
  // Widgets load late and in any order: look for them this long, then stop.
  var WAIT_MS = 60000, STEP_MS = 400;
  var state = {}, given = {}, bx = null, started = +new Date(), timer = null, ymId = null, sent = {};
  w.chatsource = { loaded: true, session: function () { return state.sid; }, code: function () { return state.code; } };

  // Whatever a widget or the browser throws, the page goes on.
  function safe(f) {
    return function () { try { return f.apply(this, arguments); } catch (e) { return undefined; } };
  }

  function load() {
    try { state = JSON.parse(w.localStorage.getItem(KEY)) || {}; } catch (e) { state = {}; }
  }

  // Storage may be off (private mode): the session then lasts one page view.
  function save() {
    try { w.localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { return; }
  }

  function cookie(name) {
    var m = d.cookie.match("(^|; )" + name + "=([^;]*)");
    return m && m[2];
  }

  // The browser's ids at the ad platforms, for the offline conversions sent back to them:
  // Metrika's ClientID (its cookie, else asked of the counter: its tag defines ym() and a
  // yaCounter<id> per counter) and GA's client id (`_ga` is GA1.1.<id>).
  var ids = safe(function () {
    var ga = /\.(\d+\.\d+)$/.exec(cookie("_ga"));
    if (ymId == null && w.ym) for (var k in w) if (/^yaCounter\d+$/.test(k)) { ymId = ""; w.ym(+k.slice(9), "getClientID", function (id) { ymId = id; }); }
    return { ym: cookie("_ym_uid") || ymId || null, ga: ga && ga[1] };
  });

  // A string body goes as text/plain, which keeps this a "simple" CORS request (no preflight
  // round trip), and a cross-origin fetch sends no cookies by default. Offline or blocked, the
  // page goes on without a session.
  function send() {
    sent = ids() || {};
    var body = { visitor_id: state.vid, session_id: state.sid, url: w.location.href, referrer: d.referrer, ym: sent.ym, ga: sent.ga };
    return w.fetch(C.endpoint, { method: "POST", body: JSON.stringify(body) })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }

  // Each widget: is its API there, and how it takes the session id (providers.md, README).
  var widgets = {
    // Not a widget: the platforms' counters load late, so their ids are looked for as long,
    // and each one found is sent on a later post of the same page view.
    ids: {
      ready: function () { return JSON.stringify(ids() || {}) != JSON.stringify(sent); },
      give: function () { send(); if (!sent.ym || !sent.ga) delete given.ids; }
    },
    jivo: {
      ready: function () { return w.jivo_api && typeof w.jivo_api.setUserToken === "function"; },
      give: function () { w.jivo_api.setUserToken(state.sid); }
    },
    verbox: {
      // The Verbox/Talk-Me loader defines window[supportAPIMethod] as a command queue.
      ready: function () { var m = w.supportAPIMethod; return m && typeof w[m] === "function"; },
      give: function () { w[w.supportAPIMethod]("setClientInfo", { customData: { chatsource_session: state.sid } }); }
    },
    bitrix24: {
      ready: function () { bx = bx || w.BXLiveChat || null; return bx && typeof bx.setCustomData === "function"; },
      give: function () { bx.setCustomData("chatsource session " + state.sid + " " + (state.code || "")); }
    },
    amocrm: {
      ready: function () { return C.amoFields.length && w.amo_social_button && typeof w.amo_social_button.setMeta === "function"; },
      give: function () {
        var fields = [];
        for (var i = 0; i < C.amoFields.length; i++) fields.push({ id: C.amoFields[i], values: [{ value: state.sid }] });
        w.amo_social_button.setMeta({ lead: { custom_fields: fields } });
      }
    }
  };

  var tick = safe(function () {
    if (!state.sid) return;
    var pending = false;
    for (var name in widgets) {
      if (given[name] === state.sid) continue;
      var widget = widgets[name];
      if (widget.ready()) {
        given[name] = state.sid;
        safe(widget.give)();
      }
      if (given[name] !== state.sid) pending = true;
    }
    if (pending && +new Date() - started < WAIT_MS) {
      clearTimeout(timer);
      timer = setTimeout(tick, STEP_MS);
    }
  });

  function greeting() {
    var lang = (d.documentElement.lang || "").slice(0, 2);
    return /^(ru|uk|be|kk)$/.test(lang) ? "Здравствуйте!" : "Hello!";
  }

  // Messenger links carry the session's code where it reaches the chat: t.me ?start= (the
  // bot's first message is /start <code>) and WhatsApp's prefilled text. Not vk.me: VK hands
  // ?ref= only to the community's own Callback API, never into the chat text Jivo or Bitrix24
  // relay, so writing it would promise what cannot arrive (README: deep links).
  var rewrite = safe(function (a) {
    var href = a.getAttribute("href");
    if (!href || !state.code) return;
    var u = new URL(href, w.location.href), host = u.hostname.replace(/^www\./, "");
    if (host === "t.me" || host === "telegram.me") {
      if (!/^\/[A-Za-z0-9_]{4,}\/?$/.test(u.pathname)) return;
      u.searchParams.set("start", state.code);
    } else if (u.protocol === "tg:") {
      if (!u.searchParams.get("domain")) return;
      u.searchParams.set("start", state.code);
    } else if (host === "wa.me" || host === "api.whatsapp.com" || u.protocol === "whatsapp:") {
      var text = u.searchParams.get("text") || greeting();
      if (text.indexOf(state.code) >= 0) return;
      u.searchParams.set("text", text + " [" + state.code + "]");
    } else {
      return;
    }
    a.setAttribute("href", u.toString());
  });

  var rewriteAll = safe(function () {
    var links = d.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i++) rewrite(links[i]);
  });

  var ready = safe(function (s) {
    if (!s || !s.session_id) return;
    state = { vid: s.visitor_id, sid: s.session_id, code: s.code };
    save();
    tick();
    if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", rewriteAll);
    else rewriteAll();
  });

  var start = safe(function () {
    load();
    send().then(ready);
  });

  // Jivo calls jivo_onLoadCallback once its API is up; keep the site's own callback working.
  var previous = w.jivo_onLoadCallback;
  w.jivo_onLoadCallback = safe(function () {
    tick();
    if (typeof previous === "function") previous.apply(this, arguments);
  });
  // Bitrix24 live chat announces itself with this event.
  w.addEventListener("onBitrixLiveChat", safe(function (e) { bx = (e.detail && e.detail.widget) || bx; tick(); }));
  // Links added after load are rewritten when clicked.
  d.addEventListener("click", safe(function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a[href]") : null;
    if (a) rewrite(a);
  }), true);
  start();
})(window, document);
