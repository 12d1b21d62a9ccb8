// What both parts of the page of `fer-dag serve` use: the colour of each emotion, the page's state and the
// small helpers that build elements. app.js (upload, job, messages) and result-view.js (the result) import it.

// Negative emotions are red tones (told apart by hue and depth); the others are not red,
// so that "red" keeps one meaning on the overlay, the timelines and the chart.
const COLOURS = {
  angry: '#d7263d', disgust: '#8e1b3a', fear: '#f46036', sad: '#c2185b',
  happy: '#2eb872', surprise: '#f2c14e', neutral: '#8d99ae',
};
// Classes a future model may add get a calm, non-red colour for the same reason.
const SPARE_COLOURS = ['#3a86ff', '#8338ec', '#4cc9f0', '#6a994e'];
export const DEFAULT_INFO = { model: 'unknown', classes: Object.keys(COLOURS), defaultFps: 5, maxUploadMb: 500 };

export const state = {
  info: DEFAULT_INFO,
  file: null,   // the file chosen or dropped
  busy: false,  // an upload or a job is in progress
  job: 0,       // bumped for every analysis, so a stale poll knows to stop
  upload: null, // AbortController of the analysis in progress (its upload, then its polling)
  jobId: null,  // the server's id of the job in progress, once the upload is accepted
  url: null,    // object URL of the file being shown
  view: null,   // what the result view needs while it is on screen
};

export const $ = (id) => document.getElementById(id);

// ---- small helpers -------------------------------------------------------------

// Elements are built with textContent, never innerHTML: file names and messages come from users.
export function el(tag, attrs = {}, text, namespace) {
  const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function colourOf(emotion) {
  if (COLOURS[emotion]) return COLOURS[emotion];
  const classes = state.info.classes.filter((c) => !COLOURS[c]);
  return SPARE_COLOURS[Math.max(0, classes.indexOf(emotion)) % SPARE_COLOURS.length];
}

// Dark text on light colours (surprise's yellow), white on the rest.
export function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#1b1b1b' : '#ffffff';
}
