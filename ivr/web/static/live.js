// Live calls: one Server-Sent Events stream; rows are rebuilt from each snapshot and the elapsed
// time ticks locally between updates. No inline script, so the page works under a strict CSP.
(function () {
  "use strict";
  var table = document.getElementById("calls");
  var body = table.querySelector("tbody");
  var count = document.getElementById("call-count");
  var empty = document.getElementById("no-calls");
  var status = document.getElementById("live-status");
  var received = performance.now();

  function fmt(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function render(calls) {
    received = performance.now();
    var rows = document.createDocumentFragment();
    calls.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.call = c.id;
      tr.dataset.node = c.node;
      if (c.help) tr.className = "help";
      var el = cell(tr, fmt(c.elapsed), "num elapsed");
      el.dataset.elapsed = c.elapsed;
      cell(tr, c.node, "node");
      cell(tr, c.caller);
      cell(tr, c.step);
      cell(tr, c.utterance, "utt");
      cell(tr, c.confidence === null ? "—" : c.confidence.toFixed(2), "num");
      cell(tr, c.hold ? "あり" : "—");
      var st = cell(tr, "");
      if (c.help) {
        var mark = document.createElement("span");
        mark.className = "help-mark";
        mark.textContent = "要対応";
        st.appendChild(mark);
      }
      if (c.transferred) st.appendChild(document.createTextNode("転送"));
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    // the server column shows once another node's call has been on the page (several `ivr serve` nodes)
    if (calls.some(function (c) { return c.node !== table.dataset.node; })) table.classList.add("nodes");
    count.textContent = calls.length;
    empty.hidden = calls.length > 0;
  }

  function tick() {
    var extra = (performance.now() - received) / 1000;
    body.querySelectorAll("td.elapsed").forEach(function (td) {
      td.textContent = fmt(parseFloat(td.dataset.elapsed) + extra);
    });
  }

  // The server ends each stream after a few seconds and the browser reconnects by itself; only a
  // reconnection that takes long, or a refused one (session expired), is shown.
  var lastMessage = performance.now();

  function show(text, cls) {
    status.textContent = text;
    status.className = "status " + cls;
  }

  function connect() {
    var source = new EventSource("/live/stream");
    source.addEventListener("calls", function (e) {
      lastMessage = performance.now();
      render(JSON.parse(e.data));
      show("リアルタイム表示中", "ok");
    });
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) return;
      fetch("/live", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401 || r.status === 403) {
          show("ログインの有効期限が切れました。再度ログインしてください。", "bad");
        } else {
          setTimeout(connect, 2000);
        }
      }, function () { setTimeout(connect, 2000); });
    };
  }

  setInterval(function () {
    if (performance.now() - lastMessage > 20000 && status.className.indexOf("bad") < 0) {
      show("再接続しています…", "warn");
    }
  }, 2000);
  connect();
  setInterval(tick, 1000);
})();
