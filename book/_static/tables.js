// Wide tables scroll sideways with a visible cue (styles in tables.css).
//
// Every table of the article gets a horizontal scroll container: its nearest ancestor that
// already scrolls (a notebook output area, the theme's .pst-scrollable-table-container), or a
// div.adlib-scroll wrapped around it. A container whose content is wider than it is marked
// .adlib-overflowing, gets a "scroll sideways" line above it, and is told which edges hide
// columns (.adlib-scrolled, .adlib-at-end) so the stylesheet fades those edges. A table too wide
// for the column is laid out at its narrowest, one word a line in every cell; there its cells
// of running text (.adlib-prose) get a readable width (.adlib-widen on the container).
(function () {
  "use strict";

  function scrollContainer(table, article) {
    for (let node = table.parentElement; node && node !== article; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowX;
      if (overflow === "auto" || overflow === "scroll") return node;
    }
    const wrapper = document.createElement("div");
    wrapper.className = "adlib-scroll";
    table.parentNode.insertBefore(wrapper, table);
    wrapper.appendChild(table);
    return wrapper;
  }

  function hintFor(container) {
    const previous = container.previousElementSibling;
    if (previous && previous.classList.contains("adlib-scroll-hint")) return previous;
    const hint = document.createElement("div");
    hint.className = "adlib-scroll-hint";
    hint.setAttribute("aria-hidden", "true");
    hint.textContent = "Wide table: scroll sideways for more columns \u2192";
    container.parentNode.insertBefore(hint, container);
    return hint;
  }

  const PROSE_CHARACTERS = 40;

  function markProse(table) {
    table.querySelectorAll("td, th").forEach((cell) => {
      if (cell.textContent.trim().length > PROSE_CHARACTERS) cell.classList.add("adlib-prose");
    });
  }

  function overflows(container) {
    return container.scrollWidth > container.clientWidth + 1;
  }

  // which edges hide columns, as the reader scrolls
  function updateEdges(container) {
    container.classList.toggle("adlib-scrolled", container.scrollLeft > 1);
    container.classList.toggle("adlib-at-end",
      container.scrollLeft + container.clientWidth >= container.scrollWidth - 1);
  }

  // on load and on resize: does the table fit; if not, widen its prose cells, show the hint
  function layOut(container) {
    container.classList.remove("adlib-widen");
    const overflowing = overflows(container);
    container.classList.toggle("adlib-widen", overflowing);
    container.classList.toggle("adlib-overflowing", overflowing);
    if (overflowing || container.previousElementSibling?.classList.contains("adlib-scroll-hint")) {
      hintFor(container).classList.toggle("adlib-shown", overflowing);
    }
    updateEdges(container);
  }

  function setUp() {
    const article = document.querySelector(".bd-article") || document.body;
    const containers = new Set();
    article.querySelectorAll("table").forEach((table) => {
      if (table.closest(".adlib-scroll-hint")) return;
      markProse(table);
      containers.add(scrollContainer(table, article));
    });
    containers.forEach((container) => {
      layOut(container);
      container.addEventListener("scroll", () => updateEdges(container), { passive: true });
    });
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => containers.forEach(layOut), 100);
    });
    // fonts and late content (MathJax, widgets) change widths after load
    window.addEventListener("load", () => containers.forEach(layOut));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
