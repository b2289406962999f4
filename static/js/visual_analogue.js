// Visual-analogue items (ORS, SRS, session rating): a slider over the submitted number input.
// The slider has no name, so it is never submitted; the number input stays empty ("not
// answered") until the person moves the slider or types a mark. A slider must never submit its
// starting position unasked.
(function () {
  "use strict";

  function setUp(root) {
    var slider = root.querySelector("[data-vas-slider]");
    var field = root.querySelector("input[type=number]");
    var state = root.querySelector("[data-vas-state]");
    var clear = root.querySelector("[data-vas-clear]");
    var decimals = parseInt(root.dataset.decimals || "0", 10);
    if (!slider || !field) {
      return;
    }

    function show(answered) {
      root.classList.toggle("vas-unanswered", !answered);
      slider.setAttribute("aria-valuetext", answered ? field.value : "not answered");
      state.textContent = answered ? "" : "not answered";
      clear.hidden = !answered;
    }

    function fromSlider() {
      field.value = Number(slider.value).toFixed(decimals);
      show(true);
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function fromField() {
      var value = field.value.trim();
      if (value === "" || isNaN(Number(value))) {
        show(false);
        return;
      }
      slider.value = value;
      show(true);
    }

    slider.hidden = false;
    slider.addEventListener("input", fromSlider);
    slider.addEventListener("change", fromSlider);
    // A press on the thumb where it already is changes nothing; it is still a chosen mark.
    slider.addEventListener("pointerup", fromSlider);
    slider.addEventListener("keydown", function (event) {
      var keys = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"];
      if (keys.indexOf(event.key) !== -1) {
        window.setTimeout(fromSlider, 0);
      }
    });
    field.addEventListener("input", fromField);
    clear.addEventListener("click", function () {
      field.value = "";
      slider.value = slider.min;
      show(false);
      slider.focus();
    });
    fromField();
  }

  document.querySelectorAll("[data-vas]").forEach(setUp);
})();
