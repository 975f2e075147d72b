// Loaded after require.js and before the widget manager (embed-amd.js), both served from
// this site's _static/widgets/ so the sliders work offline.
(function () {
  // Resolve the widget manager's AMD modules (and the icon fonts it loads relative to them)
  // against _static/widgets/, not against the page's own folder.
  var here = document.currentScript.src;
  require.config({ baseUrl: here.slice(0, here.lastIndexOf("/") + 1) + "widgets/" });

  // ipywidgets' typeset() still calls the MathJax 2 API (MathJax.Hub.Queue) whenever
  // window.MathJax exists; the book loads MathJax 3, which has no Hub and replaces the
  // window.MathJax object when it starts. Keep a Hub that forwards to MathJax 3 on whatever
  // object window.MathJax is.
  var hub = {
    Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : undefined;
      var mathjax = window.MathJax;
      if (element && mathjax && mathjax.typesetPromise) { mathjax.typesetPromise([element]); }
    },
  };
  var current = window.MathJax;
  if (current && !current.Hub) { current.Hub = hub; }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) {
      current = value;
      if (value && typeof value === "object" && !value.Hub) { value.Hub = hub; }
    },
  });
})();
