/* The first screen (dashboard/first_screen.py): the page's first view as static HTML, shown while
   Dash starts behind it, hidden. On a page that has one, app.py runs this file first, then
   plotly.js and its locale, then ironriver.js, which calls `draw` below; React and Dash come
   after. Its graphs are drawn from the first-view data block as dcc.Graph will draw them (its
   responsive layout and config). Once each of Dash's own graphs has drawn, the copy is removed
   in that same task: the reader sees the same page throughout, then a live one. If Dash lays the
   page out itself (ironriver.js's layoutPost) or its graphs never draw, the copy goes at once,
   or after LIMIT_MS.

   The maps' boundary files are fetched (from the preloads the page asked for) and parsed here,
   while plotly.js is still loading, and handed to plotly.js as already fetched
   (window.PlotlyGeoAssets, plotly's own cache): it then draws in one go, before React and Dash
   run, instead of fetching them itself and finishing after them.

   React, Dash and what they fetch first wait in a <template> (first_screen.later) until the
   copy's maps are drawn and painted: fetched and compiled meanwhile, they would take the CPU
   plotly.js needs to draw them. `startDash` puts them into the page then, or at once if the copy
   cannot draw, or after START_LIMIT_MS whatever happens. */
window.ironriverFirstScreen = (function () {
  const LIMIT_MS = 10000;
  const START_LIMIT_MS = 3000;
  const screen = document.getElementById("ironriver-first-screen");
  const block = document.getElementById("ironriver-first-view");
  // The ids of the graphs the copy holds, and those of them Dash has started drawing.
  const pending = {};
  const started = {};
  let graphs = {};  // the view's dcc.Graph components by id
  let files = Promise.resolve();  // the boundary files, once in plotly's cache
  let dashStarted = false;

  /* The <template>'s elements made anew (an element parsed into a template never fetches or
     runs) and put in its place: the preloads fetch at once; the scripts fetch together and run
     in order, and an inline script runs once those before it have run, as the parser runs them. */
  function startDash() {
    if (dashStarted) { return; }
    if (document.readyState === "loading") {  // the template comes after the drawing scripts
      document.addEventListener("DOMContentLoaded", startDash);
      return;
    }
    dashStarted = true;
    const template = document.getElementById("ironriver-later");
    if (!template) { return; }
    const parent = template.parentNode;
    const elements = Array.prototype.map.call(template.content.children, function (old) {
      const element = document.createElement(old.localName);
      Array.prototype.forEach.call(old.attributes, function (attribute) {
        element.setAttribute(attribute.name, attribute.value);
      });
      element.textContent = old.textContent;
      return element;
    });
    template.remove();
    (function insert(index) {
      let last = null;  // the last script with a source put in, not known to have run yet
      for (; index < elements.length; index += 1) {
        const element = elements[index];
        const inline = element.localName === "script" && !element.hasAttribute("src");
        if (inline && last) { break; }
        if (element.localName === "script" && !inline) {
          element.async = false;  // run in the order put in, as parsed scripts are
          last = element;
        }
        parent.appendChild(element);
      }
      if (last) {
        const next = insert.bind(null, index);
        last.addEventListener("load", next);
        last.addEventListener("error", next);
      }
    }(0));
  }

  function reveal() {
    startDash();
    if (!screen || !screen.isConnected) { return; }
    screen.remove();
    // plotly.js's listeners of the copy's graphs (a responsive graph follows the window's size).
    screen.querySelectorAll(".js-plotly-plot").forEach(function (gd) { window.Plotly.purge(gd); });
  }

  function graphsById(content) {
    const byId = {};
    (function walk(node) {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (!node || typeof node !== "object" || !node.props) { return; }
      if (node.type === "Graph" && typeof node.props.id === "string") { byId[node.props.id] = node; }
      walk(node.props.children);
    }(content));
    return byId;
  }

  /* plotly.js's cache: geojson by URL, base maps by name (<scope>_<resolution>m); plotly.js
     keeps an existing one. */
  function fetchBoundaries() {
    const assets = window.PlotlyGeoAssets = window.PlotlyGeoAssets || { topojson: {} };
    const loads = [];
    const asked = {};
    function load(url, keep) {
      if (asked[url]) { return; }  // the maps' traces share their boundary files
      asked[url] = true;
      loads.push(fetch(url, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.json().then(keep) : null;
      }).catch(function () { return null; }));  // plotly.js then fetches it itself
    }
    Object.keys(graphs).forEach(function (id) {
      const props = graphs[id].props;
      const figure = props.figure || {};
      (figure.data || []).forEach(function (trace) {
        const url = trace.geojson;
        if (trace.type === "choropleth" && typeof url === "string" && !assets[url]) {
          load(url, function (geojson) { assets[url] = geojson; });
        }
      });
      const base = (props.config || {}).topojsonURL;
      const layout = figure.layout || {};
      Object.keys(layout).forEach(function (key) {
        const geo = layout[key];
        if (!base || !/^geo\d*$/.test(key) || !geo || typeof geo !== "object") { return; }
        const name = String(geo.scope || "world").replace(/ /g, "-") + "_" +
          String(geo.resolution || 110) + "m";
        if (!assets.topojson[name]) {
          load(base + name + ".json", function (topojson) { assets.topojson[name] = topojson; });
        }
      });
    });
    return Promise.all(loads);
  }

  /* Draws the copy's graphs; resolves once they are drawn. */
  function drawGraphs() {
    const drawn = [];
    screen.querySelectorAll("[data-early-graph]").forEach(function (element) {
      const id = element.getAttribute("data-early-graph");
      const props = graphs[id] && graphs[id].props;
      if (!props || started[id]) { return; }  // Dash's own is on its way
      const figure = props.figure || {};
      // What dcc.Graph passes for a responsive graph (its RESPONSIVE_LAYOUT and _CONFIG).
      const layout = Object.assign({}, figure.layout, { autosize: true });
      delete layout.width;
      delete layout.height;
      const config = Object.assign({}, props.config, {
        responsive: true,
        typesetMath: Boolean(props.mathjax),
      });
      drawn.push(window.Plotly.react(element, {
        data: figure.data, layout: layout, frames: figure.frames, config: config,
      }));
    });
    return Promise.all(drawn);
  }

  /* Once a frame with the maps has been painted. */
  function afterPaint() {
    requestAnimationFrame(function () { setTimeout(startDash, 0); });
  }

  setTimeout(startDash, START_LIMIT_MS);
  if (screen && block) {
    screen.querySelectorAll("[data-early-graph]").forEach(function (element) {
      pending[element.getAttribute("data-early-graph")] = true;
    });
    graphs = graphsById(JSON.parse(block.textContent).content);
    files = fetchBoundaries();
  }

  return {
    /* Called once plotly.js and its locale have run. */
    draw: function () {
      if (!screen) { return; }
      if (!block || !window.Plotly || !Object.keys(pending).length) { reveal(); return; }
      files.then(drawGraphs).then(afterPaint, startDash);
    },
    shown: function () { return Boolean(screen && screen.isConnected); },
    holds: function (gd) { return Boolean(screen && gd && screen.contains(gd)); },
    /* Dash's graph `gd` is being drawn (`drawn`: plotly's promise). */
    plotted: function (gd, drawn) {
      const box = gd && gd.parentElement;  // dcc.Graph's box, with the graph's id
      if (!box || !pending[box.id] || started[box.id]) { return; }
      started[box.id] = true;
      Promise.resolve(drawn).then(function () {
        delete pending[box.id];
        if (!Object.keys(pending).length) { reveal(); }
      }, reveal);
    },
    /* Dash renders the first view (ironriver.js's layoutPost). */
    rendering: function () { setTimeout(reveal, LIMIT_MS); },
    reveal: reveal,
  };
}());
