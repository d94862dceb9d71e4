// The plotly.js Iron River ships: core (scatter, annotations, shapes, legend, modebar...) and
// only the trace types the dashboard's figures use. Add a trace module here when a figure
// needs one; tests/test_browser.py fails on any drawn trace type this bundle lacks.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/choropleth'), // map: US and Mexican states
    require('plotly.js/lib/scattergeo'), // map: corridors and state labels
    require('plotly.js/lib/bar'), // bars on cartesian charts
]);

module.exports = Plotly;
