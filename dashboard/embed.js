/* An embedded Iron River chart: draw the figure, then tell the host page our height, as
   Datawrapper's embeds do, so the iframe can fit its content without scrollbars. */
(function () {
  "use strict";
  var figure = JSON.parse(document.getElementById("embed-figure").textContent);
  var graph = document.getElementById("embed-graph");
  var config = {
    // Spanish embeds load plotly's es-MX locale and name it here (months, modebar, 7,825).
    locale: graph.getAttribute("data-locale") || "en",
    responsive: true,
    displaylogo: false,
    topojsonURL: "/assets/topojson/",
    modeBarButtonsToRemove: ["sendDataToCloud", "editInChartStudio", "select2d", "lasso2d"]
  };
  var last = 0;
  function postHeight() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last || window.parent === window) { return; }
    last = height;
    window.parent.postMessage({ "iron-river-height": height, "href": window.location.href }, "*");
  }
  window.Plotly.newPlot(graph, figure.data || [], figure.layout || {}, config).then(function () {
    document.body.setAttribute("data-drawn", "true");
    postHeight();
  });
  window.addEventListener("resize", postHeight);
  if (window.ResizeObserver) { new window.ResizeObserver(postHeight).observe(document.body); }
}());
