// Wide tables and figures scroll sideways with a visible cue (styles in wide.css).
//
// Tables. Every table of the article gets a horizontal scroll container: its nearest ancestor that
// already scrolls (a notebook output area, the theme's .pst-scrollable-table-container), or a
// div.adlib-scroll wrapped around it. A container whose content is wider than it is marked
// .adlib-overflowing, gets a "scroll sideways" line above it, and is told which edges hide
// columns (.adlib-scrolled, .adlib-at-end) so the stylesheet fades those edges. A table too wide
// for the column is laid out at its narrowest, one word a line in every cell; there its cells
// of running text (.adlib-prose) get a readable width (.adlib-widen on the container).
//
// Figures. The figures are drawn at 100 dpi for the 688 px column with text of 9 pt or more,
// which is 12.5 px at full size. A browser shrinks an image to the column: on a phone (about
// 350 px) to half, and its labels to about 6 px. So an image is never shown below
// MIN_FIGURE_SCALE of its own size (labels ≥ 10 px); one that is then wider than the column
// scrolls sideways in the same kind of container as a table, with its own hint. Widget frames
// are left alone (the widget lays them out).
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

  // an image gets a container of its own (an output area may also hold a table)
  function ownScrollContainer(img) {
    if (img.parentElement.classList.contains("adlib-scroll")) return img.parentElement;
    const wrapper = document.createElement("div");
    wrapper.className = "adlib-scroll";
    img.parentNode.insertBefore(wrapper, img);
    wrapper.appendChild(img);
    return wrapper;
  }

  function hintFor(container, text) {
    const previous = container.previousElementSibling;
    if (previous && previous.classList.contains("adlib-scroll-hint")) return previous;
    const hint = document.createElement("div");
    hint.className = "adlib-scroll-hint";
    hint.setAttribute("aria-hidden", "true");
    hint.textContent = text;
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

  // mark the container, show or hide its hint line (made on first need), fade the hidden edges
  function showOverflow(container, overflowing, text) {
    container.classList.toggle("adlib-overflowing", overflowing);
    if (overflowing || container.previousElementSibling?.classList.contains("adlib-scroll-hint")) {
      hintFor(container, text).classList.toggle("adlib-shown", overflowing);
    }
    updateEdges(container);
  }

  // on load and on resize: does the table fit; if not, widen its prose cells, show the hint
  function layOut(container) {
    container.classList.remove("adlib-widen");
    const overflowing = overflows(container);
    container.classList.toggle("adlib-widen", overflowing);
    showOverflow(container, overflowing, TABLE_HINT);
  }

  const TABLE_HINT = "Wide table: scroll sideways for more columns \u2192";
  const FIGURE_HINT = "Wide figure: scroll sideways for the rest \u2192";
  const MIN_FIGURE_SCALE = 0.8;

  function isFigure(img) {
    return !img.closest(".jupyter-widgets, .widget-area, .navbar-brand, .adlib-scroll-hint");
  }

  // on load and on resize: the image at the column's width, but never below MIN_FIGURE_SCALE
  function layOutFigure(img, container) {
    img.style.removeProperty("width");
    img.style.removeProperty("max-width");
    const least = Math.round(img.naturalWidth * MIN_FIGURE_SCALE);
    const overflowing = img.naturalWidth > 0 && least > container.clientWidth + 1;
    if (overflowing) {
      img.style.maxWidth = "none";
      img.style.width = `${least}px`;
    }
    showOverflow(container, overflowing, FIGURE_HINT);
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
    const figures = new Map();
    article.querySelectorAll("img").forEach((img) => {
      if (!isFigure(img)) return;
      const container = ownScrollContainer(img);
      figures.set(img, container);
      container.addEventListener("scroll", () => updateEdges(container), { passive: true });
      if (img.complete) layOutFigure(img, container);
      else img.addEventListener("load", () => layOutFigure(img, container));
    });
    const layOutAll = () => {
      containers.forEach(layOut);
      figures.forEach((container, img) => layOutFigure(img, container));
    };
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(layOutAll, 100);
    });
    // fonts and late content (MathJax, widgets) change widths after load
    window.addEventListener("load", layOutAll);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
