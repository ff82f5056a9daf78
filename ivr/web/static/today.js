// Today's charts, drawn with the vendored Chart.js from data the page embeds as JSON.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  Chart.defaults.font.size = 14;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  new Chart(document.getElementById("per-hour"), {
    type: "bar",
    data: {
      labels: data.hours,
      datasets: [
        { label: "通話", data: data.calls, backgroundColor: "#7fa7c4" },
        { label: "予約", data: data.bookings, backgroundColor: "#2f7d4f" }
      ]
    },
    options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  var drop = document.getElementById("dropout");
  if (drop) {
    new Chart(drop, {
      type: "bar",
      data: { labels: data.steps, datasets: [{ label: "途中終了", data: data.dropouts, backgroundColor: "#b3261e" }] },
      options: { indexAxis: "y", maintainAspectRatio: false, plugins: { legend: { display: false } },
                 scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
})();
