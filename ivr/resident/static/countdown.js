// The hold's countdown on the confirmation page, and the print button on the booking page.
// Without JavaScript both pages still work: the server checks the hold's time itself.
(function () {
  "use strict";
  var hold = document.getElementById("hold");
  if (hold) {
    var expires = Date.parse(hold.getAttribute("data-expires"));
    var clock = document.getElementById("countdown-clock");
    var status = document.getElementById("countdown-status");
    var lastMinute = null;
    var tick = function () {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      var minutes = Math.floor(left / 60), seconds = left % 60;
      clock.textContent = minutes + "分" + (seconds < 10 ? "0" : "") + seconds + "秒";
      if (minutes !== lastMinute && left > 0) {  // a screen reader hears the time once a minute
        status.textContent = "のこり " + (seconds ? minutes + 1 : minutes) + "分 ほどです。";
        lastMinute = minutes;
      }
      if (left === 0) {
        document.getElementById("hold-actions").hidden = true;
        hold.hidden = true;
        document.getElementById("expired").hidden = false;
        clearInterval(timer);
      }
    };
    var timer = setInterval(tick, 1000);
    tick();
  }
  var print = document.getElementById("print");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
}());
