(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll("#gallery .example"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("#gallery .group"));
  var cells = Array.prototype.slice.call(document.querySelectorAll("#confusion button.cell"));
  var status = document.getElementById("filter-status");
  var clear = document.getElementById("filter-clear");
  var selected = null;

  function show(cell) {
    var t = cell ? cell.getAttribute("data-true") : null;
    var p = cell ? cell.getAttribute("data-pred") : null;
    var shown = 0;
    items.forEach(function (el) {
      var visible = cell
        ? el.getAttribute("data-true") === t && el.getAttribute("data-pred") === p
        : el.getAttribute("data-group") !== "cell";
      el.hidden = !visible;
      if (visible) { shown += 1; }
    });
    groups.forEach(function (group) {
      group.hidden = cell
        ? !group.querySelector(".example:not([hidden])")
        : group.getAttribute("data-group") === "cell";
    });
    cells.forEach(function (c) {
      c.classList.toggle("selected", c === cell);
      c.setAttribute("aria-pressed", c === cell ? "true" : "false");
    });
    selected = cell;
    clear.hidden = !cell;
    if (!cell) {
      status.textContent = "Click a cell of the confusion matrix to see its examples.";
      return;
    }
    status.textContent = "Showing " + shown + " of " + cell.getAttribute("data-count") +
      " validation example(s) of true class \u201c" + cell.getAttribute("data-true-name") +
      "\u201d predicted as \u201c" + cell.getAttribute("data-pred-name") + "\u201d" +
      (shown ? "." : ": none of them is in the gallery.");
  }

  cells.forEach(function (cell) {
    cell.addEventListener("click", function () {
      show(selected === cell ? null : cell);
      document.getElementById("gallery").scrollIntoView({ block: "start" });
    });
  });
  clear.addEventListener("click", function () { show(null); });
  show(null);
})();
