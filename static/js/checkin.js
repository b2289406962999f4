// Progressive enhancement only: the form works the same without this file. It shows how many
// questions are answered so far (the counter is hidden from screen readers, which announce each
// radio group's state themselves), and after a failed submit moves focus to the crisis contacts if
// an answer showed risk (they come before any missing answer), otherwise to the error summary.
(function () {
  "use strict";
  var form = document.getElementById("checkin-form");
  var progress = document.getElementById("progress");
  if (!form || !progress) { return; }
  var total = parseInt(form.getAttribute("data-total"), 10) || 0;
  var count = document.getElementById("progress-count");
  var fill = document.getElementById("progress-fill");

  function update() {
    var names = {};
    var inputs = form.querySelectorAll("input[type=radio]:checked");
    for (var i = 0; i < inputs.length; i++) { names[inputs[i].name] = true; }
    // Visual-analogue lines: the submitted number field, empty until the person marks the line.
    var marks = form.querySelectorAll("input[type=number][name]");
    for (var j = 0; j < marks.length; j++) {
      if (marks[j].value !== "") { names[marks[j].name] = true; }
    }
    var answered = Object.keys(names).length;
    count.textContent = String(answered);
    fill.style.width = (total ? Math.round(100 * answered / total) : 0) + "%";
  }

  progress.hidden = false;
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();

  var first = document.getElementById("crisis") || document.getElementById("error-summary");
  if (first) { first.focus(); }
})();
