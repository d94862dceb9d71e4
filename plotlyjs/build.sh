#!/usr/bin/env bash
# Rebuilds dashboard/assets/plotly-custom.min.js from npm: the plotly.js version the installed
# `plotly` Python package bundles (Dash's dcc.Graph uses that one), with only the trace types
# of entry.js. dcc.Graph uses `window.Plotly` when a page already has it, so the full 4.8 MB
# bundle is never fetched. Needs node and npm; the output is committed, so serving needs neither.
#
#     bash plotlyjs/build.sh   # then commit dashboard/assets/plotly-custom.min.js, plotly-locale-es-mx.js
#                              # and regenerator-runtime.min.js
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$root/dashboard/assets/plotly-custom.min.js"
python="${PYTHON:-$root/.venv/bin/python}"

wanted="$("$python" -c 'from plotly.offline import get_plotlyjs_version; print(get_plotlyjs_version())')"
pinned="$(node -p "require('$here/package.json').devDependencies['plotly.js']")"
if [ "$wanted" != "$pinned" ]; then
    echo "plotly (Python) bundles plotly.js $wanted but package.json pins $pinned:" >&2
    echo "set devDependencies.plotly.js to $wanted, run 'npm install' in plotlyjs/, then rebuild." >&2
    exit 1
fi

cd "$here"
# Exactly the lock file's packages; no install scripts (esbuild's binary is a plain dependency).
npm ci --no-audit --no-fund --ignore-scripts
version="$(node -p "require('plotly.js/package.json').version")"
traces="$(grep -o "lib/[a-z0-9]*'" entry.js | grep -v "lib/core'" | sed "s|lib/||; s|'||" | paste -sd, -)"
# The header plotly.js puts on its own dist bundles, naming this build's traces.
banner="/**
* plotly.js (custom: core + ${traces}) v${version}
* Copyright 2012-2026, Plotly, Inc.
* All rights reserved.
* Licensed under the MIT license
* Built by plotlyjs/build.sh of Iron River from plotly.js@${version} on npm.
*/"
# The options of plotly.js's own esbuild-config.js (iife named Plotly, es2016, global=window,
# no AMD), minified as its dist bundles are. Its GLSL plugin serves WebGL traces, not included;
# its CSS plugin inlines maplibre-gl.css (83 kB), which only `map` subplots use: dropped here.
./node_modules/.bin/esbuild entry.js \
    --bundle --minify --format=iife --global-name=Plotly --target=es2016 \
    --define:global=window --define:define.amd=false --loader:.css=empty \
    --legal-comments=eof --log-level=warning \
    --banner:js="$banner" --outfile="$out"
echo "wrote $out ($(wc -c <"$out") bytes): plotly.js v${version}, traces core+${traces}"
node locale-es-mx.js > "$root/dashboard/assets/plotly-locale-es-mx.js"
echo "wrote $root/dashboard/assets/plotly-locale-es-mx.js"
# The one global of Dash's @babel/polyfill bundle its scripts still use (`regeneratorRuntime`,
# in the lazy loader of dash-renderer, dcc and dash_table); the app no longer serves that
# bundle (dashboard/app.py). A plain script, not bundled: it sets the global itself.
runtime="$root/dashboard/assets/regenerator-runtime.min.js"
./node_modules/.bin/esbuild node_modules/regenerator-runtime/runtime.js --minify \
    --legal-comments=eof --log-level=warning \
    --banner:js="/* regenerator-runtime v$(node -p "require('regenerator-runtime/package.json').version") (MIT, Facebook, Inc.), built by plotlyjs/build.sh of Iron River. */" \
    --outfile="$runtime"
echo "wrote $runtime"
