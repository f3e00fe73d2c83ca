// The console's only script: confirmations, select-all boxes, the copy button and
// self-refreshing regions. Pages work without it (forms post as usual).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("change", (event) => {
  const box = event.target;
  const name = box.getAttribute && box.getAttribute("data-select-all");
  if (name) {
    const scope = box.closest("form") || document;
    scope.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((item) => {
      item.checked = box.checked;
    });
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.textContent).then(done, () => selectText(source));
  } else {
    selectText(source);
    try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies */ }
  }
});

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// A region with data-refresh="/url" data-every="N" is replaced by the HTML fragment the
// server renders at that URL every N seconds, unless the user has ticked a box in it.
function refreshRegion(region) {
  const every = Math.max(1, Number(region.getAttribute("data-every")) || 5) * 1000;
  const tick = async () => {
    if (!document.hidden && !region.querySelector("input[type=checkbox]:checked")) {
      try {
        const answer = await fetch(region.getAttribute("data-refresh"), {
          credentials: "same-origin", headers: { "Accept": "text/html" },
        });
        if (answer.ok && !answer.redirected) {
          region.innerHTML = await answer.text();
        }
      } catch (e) { /* the next round tries again */ }
    }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}

// A build log that is still being written: reload the page while the build runs.
function reloadWhileBuilding(node) {
  const every = Math.max(1, Number(node.getAttribute("data-reload-every")) || 2) * 1000;
  node.scrollTop = node.scrollHeight;
  window.setTimeout(() => window.location.reload(), every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refreshRegion);
  document.querySelectorAll("[data-reload-every]").forEach(reloadWhileBuilding);
  // A log's newest lines are at its end: show them first.
  document.querySelectorAll("[data-scroll-end]").forEach((node) => { node.scrollTop = node.scrollHeight; });
});
