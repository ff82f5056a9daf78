// Asks before a destructive form is sent (closing a slot, cancelling a booking).
(function () {
  "use strict";
  var messages = {
    "close-slot": "この枠の受付を停止します。よろしいですか？（既存の予約は有効のままです）",
    "cancel-booking": "この予約を取り消します。よろしいですか？",
    "delete-user": "このユーザーを削除します。よろしいですか？"
  };
  document.addEventListener("submit", function (e) {
    for (var cls in messages) {
      if (e.target.classList.contains(cls) && !window.confirm(messages[cls])) { e.preventDefault(); return; }
    }
  });
})();

// After a rejected form, bring the first field with an error into view and focus it.
(function () {
  "use strict";
  var bad = document.querySelector("[aria-invalid=true]");
  if (bad) { bad.scrollIntoView({ block: "center" }); bad.focus(); }
})();
