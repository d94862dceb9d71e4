// Prints dashboard/assets/plotly-locale-es-mx.js: plotly.js's Spanish locale as Mexican readers
// write numbers and dates (7,825 and 68.3 with a decimal point; "3 jun 2023", months in lower
// case as CLDR es-MX has them). plotly's stock `es` writes "8 000,0". Run by build.sh.
const locale = require('plotly.js-locales/es');
const version = require('plotly.js-locales/package.json').version;
const lower = (names) => names.map((name) => name.toLowerCase());
const esMX = {
    moduleType: 'locale',
    name: 'es-MX',
    dictionary: locale.dictionary,
    format: Object.assign({}, locale.format, {
        days: lower(locale.format.days),
        shortDays: lower(locale.format.shortDays),
        months: lower(locale.format.months),
        shortMonths: lower(locale.format.shortMonths),
        decimal: '.',
        thousands: ',',
    }),
};
process.stdout.write(
    `/* plotly.js locale es-MX for Iron River's Spanish pages (dcc.Graph config locale "es-MX"),\n` +
    `   from plotly.js-locales@${version} (es, MIT) with es-MX numbers and dates: plotlyjs/build.sh. */\n` +
    `window.Plotly.register(${JSON.stringify(esMX)});\n`
);
