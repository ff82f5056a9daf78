// Re-fetches a server-rendered fragment every few seconds (the operator queue).
(function () {
  "use strict";
  var box = document.querySelector("[data-refresh]");
  if (!box) return;
  setInterval(function () {
    fetch(box.dataset.refresh, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { window.location.href = "/login"; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) { if (html !== null && html !== undefined) box.innerHTML = html; });
  }, 5000);
})();
