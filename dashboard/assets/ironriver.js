/* Iron River's browser-side callbacks: served as a file, so the Content-Security-Policy needs no
   inline script of ours. Python refers to them as ClientsideFunction("ironriver", name). */
/* Phone-width or touch-only screens; the same width as the stylesheet's narrow layout. */
const NARROW = "(max-width: 600px)";
const NARROW_OR_TOUCH = NARROW + ", (hover: none)";

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  ironriver: {
    /* Keep the address bar equal to the view; `history.replaceState` changes the URL without a
       navigation, so the page is not re-rendered and Back still leaves the page. */
    syncUrl: function (search) {
      if (typeof search !== "string") { return window.dash_clientside.no_update; }
      const path = window.location.pathname + search;
      if (window.location.pathname + window.location.search !== path) {
        window.history.replaceState(window.history.state, "", path + window.location.hash);
      }
      return window.location.origin + path;
    },

    /* "Copy link": the clipboard where the browser allows it, else select the field. What it
       says comes from the status element, written by Python in the page's language. */
    copyLink: function (clicks, link, fieldId) {
      if (!clicks) { return ""; }
      const field = document.getElementById(fieldId);
      const words = (document.getElementById(fieldId.replace(/-permalink$/, "-copy-status")) ||
        { dataset: {} }).dataset;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(link).catch(function () {
          if (field) { field.select(); }
        });
        return words.copied;
      }
      if (field) { field.select(); }
      return document.execCommand && document.execCommand("copy") ? words.copied : words.select;
    },

    /* A click on a map state opens its trend in the page's language, without a round trip. On a touch or narrow screen
       a tap cannot hover, so the first tap on a state shows its value (and a button to its
       trend); a second tap on the same state opens the trend. The click is cleared each time,
       so tapping the same state again is a new click. */
    openStateTrend: function (click, shownHref, locale) {
      const none = window.dash_clientside.no_update;
      const point = click && click.points && click.points[0];
      const code = point && (point.location || (point.customdata && point.customdata[5]));
      if (!code) { return [none, none, none, none, none, none, click ? null : none]; }
      // A Spanish page's trend is the Spanish one (the map-locale store holds the page's prefix).
      const href = ((locale && locale.prefix) || "") + "/trends?state=" + encodeURIComponent(code);
      const tapFirst = window.matchMedia(NARROW_OR_TOUCH).matches;
      if (!tapFirst || shownHref === href) { return [href, none, none, none, none, none, null]; }
      const data = point.customdata || [];
      const value = [data[1], data[2], data[3]].filter(Boolean).join(" · ");
      const name = data[0] || code;
      return [none, false, name, value.replace(/<br>/g, " "), href, name, null];
    },

    /* Play / Pause of the map's year slider; `words` (the map-locale store) are the page's. */
    togglePlay: function (clicks, disabled, words) {
      const playing = disabled === false;
      return [playing, playing ? words.play : words.pause, playing ? "false" : "true"];
    },

    /* Each tick steps the slider to the next year of the file, stopping at the last one. */
    stepYear: function (ticks, marks, value, words) {
      const years = Object.keys(marks || {}).map(Number).sort(function (a, b) { return a - b; });
      if (!years.length) { return [window.dash_clientside.no_update, true, words.play, "false"]; }
      const index = years.indexOf(value);
      if (index === -1 || index === years.length - 1) {
        return [years[0], false, words.pause, "true"];
      }
      const next = years[index + 1];
      const last = index + 1 === years.length - 1;
      return [next, last, last ? words.play : words.pause, last ? "false" : "true"];
    },
  },
});

/* The chart image links, the modebar camera and the embed code follow the view: the address bar
   is kept equal to it (syncUrl), so each reads its query from there when used. */
(function () {
  // The image of the view in the page's language: /es/chart/... on a Spanish page.
  function chartUrl(box, format) {
    return (box.dataset.prefix || "") + "/chart/" + box.dataset.page + "." + format +
      window.location.search;
  }
  document.addEventListener("click", function (event) {
    const target = event.target;
    if (!target || !target.closest) { return; }
    const link = target.closest("a.chart-image-link");
    const box = document.querySelector(".chart-links[data-page]");
    if (link && box) {
      link.href = chartUrl(box, link.dataset.format);
      return;
    }
    // The camera is known by its title in the page's language (plotly's locale; the box says it).
    const button = target.closest(".modebar-btn");
    const camera = ((box && box.dataset.cameraTitle) || "Download plot").toLowerCase();
    if (!button || !box ||
        (button.getAttribute("data-title") || "").toLowerCase().indexOf(camera) !== 0) {
      return;
    }
    // The camera gives the same image as the "PNG" link: drawn by the server, with its source.
    event.preventDefault();
    event.stopPropagation();
    const download = document.createElement("a");
    download.href = chartUrl(box, "png");
    download.download = "ironriver-" + box.dataset.page + ".png";
    document.body.appendChild(download);
    download.click();
    download.remove();
  }, true);
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.classList || !details.classList.contains("embed-details") || !details.open) {
      return;
    }
    const area = details.querySelector("textarea[data-template]");
    if (area) { area.value = area.dataset.template.split("{search}").join(window.location.search); }
  }, true);
}());

/* A figure may carry what a narrow screen changes in it (`layout.meta.narrow`, see
   dashboard/figures/style.py): merged in before plotly draws, so a phone gets one drawing, laid
   out for its width. dcc.Graph draws through the global Plotly.react(gd, figure). */
(function () {
  function isPlain(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }
  function merged(base, extra) {
    if (!isPlain(base) || !isPlain(extra)) { return extra; }
    const out = Object.assign({}, base);
    Object.keys(extra).forEach(function (key) { out[key] = merged(base[key], extra[key]); });
    return out;
  }
  function forScreen(figure) {
    const layout = figure && figure.layout;
    const narrow = layout && isPlain(layout.meta) && layout.meta.narrow;
    if (!narrow || !window.matchMedia(NARROW).matches) { return figure; }
    const traces = narrow.traces || {};
    return Object.assign({}, figure, {
      layout: merged(layout, narrow.layout || {}),
      data: (figure.data || []).map(function (trace, index) {
        return traces[index] ? merged(trace, traces[index]) : trace;
      }),
    });
  }
  function install() {
    const plotly = window.Plotly;
    if (!plotly || plotly.react.ironriverNarrow) { return; }
    const react = plotly.react;
    plotly.react = function (gd, figure) {
      const args = Array.prototype.slice.call(arguments);
      if (isPlain(figure) && Array.isArray(figure.data)) { args[1] = forScreen(figure); }
      const drawn = react.apply(this, args);
      // The first screen's own graphs (below) are not the page's: Dash's draw after them.
      if (!window.ironriverFirstScreen.holds(gd)) {
        window.ironriverFirstScreen.plotted(gd, drawn);
        window.ironriverDeferred.plotted(drawn);
      }
      return drawn;
    };
    plotly.react.ironriverNarrow = true;
  }
  // The plotly bundle is a later asset than this file: it is defined once the document is parsed,
  // before Dash has fetched a layout to draw.
  install();
  document.addEventListener("DOMContentLoaded", install);
}());

/* What no one sees before a page's first plot is drawn is rendered after it. A page marks such
   containers `data-deferred` (the map's state tables, inside a closed <details>, the state names
   its datalist offers, and the chart links and "Copy link" below the view: hundreds of
   components); on a cold load of a page with a graph, `layoutPost` below leaves their children
   out of the first render and they are set, exactly as laid out, once the first plot is drawn
   and painted, or after LIMIT_MS if none is. Dash's renderer and React then build them after the
   maps rather than before, and the callbacks they take part in (the permalink's `syncUrl`) run
   then too. A page without a graph renders them at once. A container a callback has filled
   meanwhile (a view the reader asked for) is left as it is. */
window.ironriverDeferred = (function () {
  const LIMIT_MS = 5000;
  let pending = [];  // [id, children] of each container left out, until it is set
  function render() {
    const left = pending;
    pending = [];
    left.forEach(function (item) {
      const element = document.getElementById(item[0]);
      if (element && !element.hasChildNodes()) {
        window.dash_clientside.set_props(item[0], { children: item[1] });
      }
    });
  }
  function afterPaint() {
    requestAnimationFrame(function () { setTimeout(render, 0); });
  }
  return {
    leaveOut: function (layout) {
      let graphs = 0;
      (function count(node) {
        if (Array.isArray(node)) { node.forEach(count); return; }
        if (!node || typeof node !== "object" || !node.props) { return; }
        if (node.type === "Graph") { graphs += 1; }
        count(node.props.children);
      }(layout));
      if (!graphs) { return; }  // no plot to wait for
      (function walk(node) {
        if (Array.isArray(node)) { node.forEach(walk); return; }
        if (!node || typeof node !== "object" || !node.props) { return; }
        if (node.props["data-deferred"] && typeof node.props.id === "string") {
          pending.push([node.props.id, node.props.children]);
          node.props.children = null;
          return;
        }
        walk(node.props.children);
      }(layout));
      if (pending.length) { setTimeout(render, LIMIT_MS); }
    },
    plotted: function (drawn) {
      if (!pending.length) { return; }
      if (drawn && typeof drawn.then === "function") {
        drawn.then(afterPaint, afterPaint);
      } else {
        afterPaint();
      }
    },
  };
}());

/* What `syncUrl` answers for a view (components.register_url_sync: the `<prefix>-search` store
   in, the `<prefix>-permalink` field out), done for the first view before it is rendered: its
   permalink is rendered after the maps (`data-deferred`), and Dash calls a callback on a load
   only when its output is rendered then. So the address becomes the view's and the field holds
   its link from the start, as after syncUrl; later views go through syncUrl as before. */
function syncFirstView(content) {
  const stores = {};
  const fields = {};
  (function walk(node) {
    if (Array.isArray(node)) { node.forEach(walk); return; }
    if (!node || typeof node !== "object" || !node.props) { return; }
    const id = node.props.id;
    if (typeof id === "string" && node.type === "Store" && /-search$/.test(id)) {
      stores[id.replace(/-search$/, "")] = node;
    }
    if (typeof id === "string" && /-permalink$/.test(id)) {
      fields[id.replace(/-permalink$/, "")] = node;
    }
    walk(node.props.children);
  }(content));
  Object.keys(stores).forEach(function (prefix) {
    const link = window.dash_clientside.ironriver.syncUrl(stores[prefix].props.data);
    if (fields[prefix] && typeof link === "string") { fields[prefix].props.value = link; }
  });
}

/* The renderer's `layout_post` hook (app.py): the server lays out the first view of the page into
   the page itself (a JSON data block, #ironriver-first-view), and this puts it into the shell's
   layout before Dash renders it, with the router's location already set to this URL. So the
   page draws without first asking the router's page-content callback for it; navigating later
   goes through the router as before. Anything unexpected leaves the layout alone: the router
   then lays the page out, as without this. */
window.ironriverRenderer = {
  layoutPost: function (layout) {
    if (!window.ironriverRenderer.placeFirstView(layout)) {
      window.ironriverFirstScreen.reveal();  // Dash lays the page out itself: show it at once
    }
  },
  placeFirstView: function (layout) {
    const block = document.getElementById("ironriver-first-view");
    if (!block) { return false; }
    block.remove();  // the first layout only (a development reload fetches the layout again)
    const view = JSON.parse(block.textContent);
    if (view.pathname !== window.location.pathname || view.search !== window.location.search) {
      return false;  // the address changed before the renderer started: let the router decide
    }
    const byId = {};
    const locations = [];
    (function walk(node) {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (!node || typeof node !== "object" || !node.props) { return; }
      if (typeof node.props.id === "string") { byId[node.props.id] = node; }
      if (node.type === "Location") { locations.push(node); }
      walk(node.props.children);
    }(layout));
    const content = byId._pages_content;
    const store = byId._pages_store;
    if (!byId._pages_location || !content || !store) { return false; }
    // Each dcc.Location as it sets itself when it mounts, but before: a Location that set its
    // props after mounting would be handed them again at a later render, and would then push
    // that (by then old) address, undoing a view's own address update (syncUrl).
    locations.forEach(function (location) {
      ["pathname", "search", "href", "hash"].forEach(function (key) {
        location.props[key] = window.location[key];
      });
    });
    // The router's callback is called when its location's pathname or search are set after
    // the layout: set here, it is not, and the page is already in place.
    syncFirstView(view.content);
    // Behind a first screen the maps are drawn already: the page renders whole, in one go.
    if (!window.ironriverFirstScreen.shown()) { window.ironriverDeferred.leaveOut(view.content); }
    content.props.children = view.content;
    store.props.data = view.store;
    window.ironriverFirstScreen.rendering();
    return true;
  },
};

/* The first screen's graphs (assets/first-screen.js) are drawn once plotly.js, its locale and
   this file's wrapper of Plotly.react have run: app.py runs them in that order, before React. */
window.ironriverFirstScreen.draw();
