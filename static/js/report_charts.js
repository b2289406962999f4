/* Draw the report's plotly figures. Their JSON sits in <script type="application/json"> elements
   written by Django's json_script; no inline script, so the strict CSP holds. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".report-charts [data-figure]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-figure"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(element, figure.data, figure.layout, {responsive: true, displaylogo: false});
    });
  });
})();
