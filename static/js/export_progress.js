/* Poll the status of running exports and fill their progress bars; show the download link when
   the file is ready. Each row carries its status URL in data-status-url (no inline script). */
(function () {
  "use strict";
  var FINAL = {done: true, failed: true, expired: true};
  var INTERVAL_MS = 1500;

  function poll(row) {
    fetch(row.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        var bar = row.querySelector("progress");
        bar.value = job.percent;
        row.querySelector(".export-status").textContent =
          job.status_label + (job.total ? " (" + job.progress + " of " + job.total + ")" : "");
        row.setAttribute("data-status", job.status);
        if (job.download_url) {
          var cell = row.querySelector(".export-download");
          cell.textContent = "";
          var link = document.createElement("a");
          link.href = job.download_url;
          link.textContent = "Download";
          cell.appendChild(link);
        }
        if (FINAL[job.status]) {
          announce(row, job);
        } else {
          window.setTimeout(function () { poll(row); }, INTERVAL_MS);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, INTERVAL_MS * 4); });
  }

  // Only the end is announced: a progress count read out every 1.5 s would drown the page.
  function announce(row, job) {
    var announcer = document.getElementById("export-announcer");
    if (!announcer) { return; }
    var name = row.cells[0].textContent.trim();
    announcer.textContent = job.download_url
      ? name + " is ready: the Download link is in the list of your exports."
      : name + ": " + job.status_label;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("tr.export-job").forEach(function (row) {
      if (!FINAL[row.getAttribute("data-status")]) { poll(row); }
    });
  });
})();
