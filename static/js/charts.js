/* Draw every plotly figure on the page. The figure JSON sits in a <script type="application/json">
   written by Django's json_script; this file is the only script, so a strict
   Content-Security-Policy (no inline script, no eval) holds. */
(function () {
  "use strict";

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || element.getAttribute("data-drawn")) { return; }
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, figure.config).then(function () {
      element.setAttribute("data-drawn", "true");
    });
  }

  function drawVisible() {
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      // A plot inside a closed <details> would be drawn zero wide: wait until it opens.
      if (element.offsetParent !== null) { draw(element); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Plotly) { return; }
    drawVisible();
    document.querySelectorAll("details").forEach(function (details) {
      details.addEventListener("toggle", function () {
        if (!details.open) { return; }
        details.querySelectorAll("[data-figure]").forEach(function (element) {
          if (element.getAttribute("data-drawn")) {
            window.Plotly.Plots.resize(element);
          } else {
            draw(element);
          }
        });
      });
    });
  });
}());
