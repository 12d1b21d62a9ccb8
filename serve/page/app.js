// The page of `fer-dag serve`: upload a recording, follow the job, then show the faces
// found over the video in step with playback, a timeline per person and the share of each emotion.
// Plain browser JavaScript, no build step and nothing fetched from outside the server.
'use strict';

// Negative emotions are red tones (told apart by hue and depth); the others are not red,
// so that "red" keeps one meaning on the overlay, the timelines and the chart.
const COLOURS = {
  angry: '#d7263d', disgust: '#8e1b3a', fear: '#f46036', sad: '#c2185b',
  happy: '#2eb872', surprise: '#f2c14e', neutral: '#8d99ae',
};
// Classes a future model may add get a calm, non-red colour for the same reason.
const SPARE_COLOURS = ['#3a86ff', '#8338ec', '#4cc9f0', '#6a994e'];
const DEFAULT_INFO = { model: 'unknown', classes: Object.keys(COLOURS), defaultFps: 5, maxUploadMb: 500 };
const POLL_MS = 300;
const BAR_WIDTH = 1000; // timeline viewBox width; stretched to the element's width
const SVG_NS = 'http://www.w3.org/2000/svg';

const state = {
  info: DEFAULT_INFO,
  file: null,   // the file chosen or dropped
  busy: false,  // an upload or a job is in progress
  job: 0,       // bumped for every analysis, so a stale poll knows to stop
  upload: null, // AbortController of the analysis in progress (its upload, then its polling)
  jobId: null,  // the server's id of the job in progress, once the upload is accepted
  url: null,    // object URL of the file being shown
  view: null,   // what the result view needs while it is on screen
};

const $ = (id) => document.getElementById(id);

// ---- small helpers -------------------------------------------------------------

// Elements are built with textContent, never innerHTML: file names and messages come from users.
function el(tag, attrs = {}, text, namespace) {
  const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}
const svgEl = (tag, attrs, text) => el(tag, attrs, text, SVG_NS);

function colourOf(emotion) {
  if (COLOURS[emotion]) return COLOURS[emotion];
  const classes = state.info.classes.filter((c) => !COLOURS[c]);
  return SPARE_COLOURS[Math.max(0, classes.indexOf(emotion)) % SPARE_COLOURS.length];
}

// Dark text on light colours (surprise's yellow), white on the rest.
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#1b1b1b' : '#ffffff';
}

const percent = (share) => Math.round(share * 100);
const formatShare = (share) => (share > 0 && share < 0.005 ? '<1 %' : `${percent(share)} %`);
const MB = 1024 * 1024; // the larger reading of "MB", so the page never refuses what the server takes
const formatSize = (bytes) => (bytes >= MB ? `${(bytes / MB).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} kB`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch, then the JSON body whatever the status; a body that is not JSON (a proxy's
// error page) becomes {} so the caller can still report the status.
async function request(url, options) {
  const response = await fetch(url, options).catch((err) => {
    if (err.name === 'AbortError') throw new Cancelled();
    throw new Error('Could not reach the server. Is `fer-dag serve` still running?');
  });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body: body || {} };
}

// The user pressed Cancel: not an error to show in red.
class Cancelled extends Error {}

const errorOf = (res) => res.body.error || `The server answered ${res.status}.`;

// ---- messages and progress -----------------------------------------------------

function showError(message) {
  $('error').classList.remove('note');
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
  $('error').classList.remove('note');
}

// A message that is not an error (a cancelled analysis): same place, calm colours.
function showNote(message) {
  showError(message);
  $('error').classList.add('note');
}

function showProgress(text, done = 0, total = 0) {
  const bar = $('progress');
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
  } else {
    bar.removeAttribute('value'); // indeterminate: the server does not know the total yet
  }
  $('progress-text').textContent = text;
  $('status').hidden = false;
}

function showJobProgress(job) {
  const { done = 0, total = 0 } = job.progress || {};
  if (job.state === 'queued') return showProgress('waiting for the analyser…');
  if (job.kind === 'image') return showProgress('analysing the image…');
  showProgress(total > 0 ? `frame ${done} of ${total}` : `frame ${done}`, done, total);
}

function setBusy(busy) {
  state.busy = busy;
  $('analyze').disabled = busy;
  $('cancel').disabled = !busy;
  $('form').setAttribute('aria-busy', String(busy));
  if (!busy) $('status').hidden = true;
}

// ---- upload and polling --------------------------------------------------------

async function analyze(file) {
  if (state.busy) return;
  if (!file) return showError('Choose a video or an image first.');
  const fps = Number($('fps').value) || state.info.defaultFps;
  if (file.size > state.info.maxUploadMb * MB) {
    return showError(`${file.name} is ${formatSize(file.size)}; the server takes at most ${state.info.maxUploadMb} MB.`);
  }
  resetView();
  clearError();
  setBusy(true);
  const job = ++state.job;
  const controller = new AbortController();
  state.upload = controller;
  state.jobId = null;
  showProgress(`uploading ${file.name}…`);
  try {
    const form = new FormData();
    form.append('fps', String(fps)); // before the file, so the server knows it before the bytes stream in
    form.append('file', file, file.name);
    const res = await request('/api/analyze', { method: 'POST', body: form, signal: controller.signal });
    if (controller.signal.aborted) {
      // Cancel came as the server accepted the file: cancel the job it made.
      if (res.body.id) await request(`/api/jobs/${encodeURIComponent(res.body.id)}`, { method: 'DELETE' });
      throw new Cancelled();
    }
    if (res.status !== 202) throw new Error(errorOf(res));
    state.jobId = res.body.id;
    await follow(res.body.id, job, file, controller.signal);
  } catch (err) {
    if (job !== state.job) return;
    if (err instanceof Cancelled) showNote(`Cancelled: ${file.name} was not analysed.`);
    else showError(err.message);
  } finally {
    if (job === state.job) {
      state.upload = null;
      state.jobId = null;
      setBusy(false);
    }
  }
}

async function follow(id, job, file, signal) {
  for (;;) {
    const res = await request(`/api/jobs/${encodeURIComponent(id)}`);
    if (job !== state.job) return; // a newer analysis took over
    if (res.status !== 200) throw new Error(errorOf(res));
    if (res.body.state === 'done') return showResult(res.body, file);
    if (res.body.state === 'failed') throw new Error(errorOf(res));
    if (res.body.state === 'cancelled' || signal.aborted) throw new Cancelled();
    showJobProgress(res.body);
    await sleep(POLL_MS);
  }
}

// Stops the upload in progress, or asks the server to cancel the job (which ends its ffmpeg and deletes the
// upload); the polling loop then sees the job cancelled.
async function cancel() {
  const { upload, jobId } = state;
  if (!upload) return;
  $('cancel').disabled = true;
  showProgress('cancelling…');
  if (!jobId) return upload.abort();
  const res = await request(`/api/jobs/${encodeURIComponent(jobId)}`, { method: 'DELETE' })
    .catch((err) => ({ status: 0, body: { error: err.message } }));
  // 409: it finished meanwhile, and the polling loop shows its result.
  if (res.status !== 200 && res.status !== 409) showError(errorOf(res));
  upload.abort();
}

// ---- the result view -----------------------------------------------------------

function resetView() {
  const player = $('player');
  if (player instanceof HTMLVideoElement) {
    player.pause();
    player.removeAttribute('src');
    player.load(); // lets the browser drop its decoder now rather than at garbage collection
  }
  player?.remove();
  state.view = null; // ends the old player's sync loop
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = null;
  for (const id of ['overlay', 'timelines', 'shares', 'legend']) $(id).replaceChildren();
  for (const id of ['download-json', 'download-csv']) $(id).removeAttribute('href');
  $('summary').textContent = '';
  $('stage').removeAttribute('style');
  $('player-note').hidden = true;
  $('details').hidden = true;
  $('result').hidden = true;
}

function showResult(result, file) {
  const frames = [...(result.frames || [])].sort((a, b) => a.t - b.t);
  $('result').hidden = false;
  if (!frames.some((frame) => frame.faces.length > 0)) {
    $('summary').textContent = `No faces were found in ${result.name}.`;
    return;
  }
  const fps = result.fps || Number($('fps').value) || state.info.defaultFps;
  const { width, height } = result;
  const view = { result, frames, fps, width, height, shown: undefined, time: 0, heads: [] };
  state.view = view;
  state.url = URL.createObjectURL(file);
  $('summary').textContent = summaryOf(view);
  $('details').hidden = false;
  mountPlayer(view);
  renderLegend(result.classes || state.info.classes);
  renderTimelines(view);
  renderShares(result);
  setDownloads(result);
  sync(view); // draw the first frame now: a headless browser may never get to play the video
}

function summaryOf({ result, frames, fps }) {
  const count = result.people.length;
  const people = `${count} ${count === 1 ? 'person' : 'people'}`;
  const where = result.kind === 'image'
    ? `${people} in the image`
    : `${people}, ${frames.length} frames analysed at ${fps} fps over ${Number(result.duration).toFixed(1)} s`;
  return `${result.name}: ${where}; model ${result.model}.`;
}

// Size the stage to the recording's aspect ratio, so the player fills it without
// letterboxing and percentages of the stage are percentages of the picture.
function fitStage(width, height) {
  if (!width || !height) return;
  const stage = $('stage');
  stage.style.aspectRatio = `${width} / ${height}`;
  stage.style.maxWidth = `calc(70vh * ${width / height})`; // keeps portrait videos on screen
}

function mountPlayer(view) {
  const isVideo = view.result.kind !== 'image';
  const player = isVideo ? el('video', { id: 'player', playsinline: '', preload: 'auto' })
    : el('img', { id: 'player', alt: `${view.result.name}, with the faces found` });
  if (isVideo) Object.assign(player, { controls: true, muted: true });
  // The result's width/height place the boxes; the file's own size stands in only when they are missing.
  player.addEventListener(isVideo ? 'loadedmetadata' : 'load', () => {
    if (view.width && view.height) return;
    const natural = isVideo ? [player.videoWidth, player.videoHeight] : [player.naturalWidth, player.naturalHeight];
    [view.width, view.height] = natural;
    view.shown = undefined; // the boxes can be placed now: redraw them
    fitStage(view.width, view.height);
    sync(view);
  });
  player.src = state.url;
  $('stage').prepend(player);
  view.player = player;
  fitStage(view.width, view.height);
  if (isVideo) followVideo(view, player);
}

function followVideo(view, video) {
  const redraw = () => sync(view);
  // Paused, seeking or before playback no frame callbacks come: these events keep the overlay right.
  for (const type of ['loadedmetadata', 'seeking', 'seeked', 'timeupdate', 'pause']) video.addEventListener(type, redraw);
  video.addEventListener('error', () => {
    view.unplayable = true; // timelines then move a time of our own (view.time)
    $('player-note').hidden = false;
  });
  // While playing, follow every presented frame, or every animation frame where rVFC is missing.
  const schedule = 'requestVideoFrameCallback' in video
    ? () => video.requestVideoFrameCallback(tick)
    : () => requestAnimationFrame(tick);
  function tick() {
    if (state.view !== view) return; // the view was reset: stop
    sync(view);
    schedule();
  }
  schedule();
}

const currentTime = (view) => (view.player instanceof HTMLVideoElement && !view.unplayable
  ? view.player.currentTime : view.time);

function seek(view, time) {
  if (view.player instanceof HTMLVideoElement && !view.unplayable) view.player.currentTime = time;
  else view.time = time;
  sync(view);
}

// The index of the frame to show at time t: the last sample at or before t, held until
// the next one, but none once it is over 1.5 sampling periods old (a gap, or past the end).
function frameAt(frames, t, fps) {
  let lo = 0;
  let hi = frames.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid].t <= t + 1e-3) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0) return frames.length > 0 && frames[0].t - t <= 1 / fps ? 0 : -1; // just before the first sample
  return t - frames[found].t <= 1.5 / fps ? found : -1;
}

function sync(view) {
  if (state.view !== view) return;
  const t = currentTime(view);
  const index = frameAt(view.frames, t, view.fps);
  if (index !== view.shown) { // rebuild the overlay only when the frame changes, not 60 times a second
    view.shown = index;
    $('overlay').replaceChildren(...(index < 0 ? [] : view.frames[index].faces.map((face) => faceBox(face, view))));
  }
  moveHeads(view, t);
}

function faceBox(face, { width, height }) {
  if (!width || !height) return document.createComment('size unknown until the file loads');
  const [x, y, w, h] = face.box;
  const colour = colourOf(face.emotion);
  const box = el('div', { class: 'face-box', 'data-person': face.person, 'data-emotion': face.emotion });
  Object.assign(box.style, {
    left: `${(x / width) * 100}%`, top: `${(y / height) * 100}%`,
    width: `${(w / width) * 100}%`, height: `${(h / height) * 100}%`,
  });
  box.style.setProperty('--colour', colour);
  box.style.setProperty('--ink', inkOn(colour));
  // Keep the label on the picture: inside the box at the top edge, flush right near the right edge.
  if (y / height < 0.08) box.classList.add('label-inside');
  if ((x + w) / width > 0.8) box.classList.add('label-right');
  box.append(el('span', { class: 'face-label' }, `P${face.person} ${face.emotion} ${percent(face.score)}%`));
  return box;
}

function renderLegend(classes) {
  $('legend').replaceChildren(...classes.map((name) => {
    const item = el('li', { 'data-emotion': name });
    const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = colourOf(name);
    item.append(swatch, document.createTextNode(name));
    return item;
  }));
}

// The span the timelines cover: the whole recording; for an image, one sampling period.
function spanOf(view) {
  return view.result.duration > 0 ? view.result.duration : view.frames[view.frames.length - 1].t + 1 / view.fps;
}

function renderTimelines(view) {
  const span = spanOf(view);
  $('timelines').replaceChildren(...view.result.people.map((person) => timeline(person, span, view)));
}

function timeline(person, span, view) {
  const isVideo = view.result.kind !== 'image';
  const share = (person.shares && person.shares[person.emotion]) || 0;
  const root = el('div', { class: 'timeline', 'data-person': person.person });
  const label = el('div', { class: 'timeline-label' }, `P${person.person} — mostly ${person.emotion} (${percent(share)} %)`);
  if (isVideo) {
    label.append(el('span', { class: 'timeline-meta' },
      ` seen ${person.first.toFixed(1)}–${person.last.toFixed(1)} s in ${person.frames} frames`));
  }
  const segments = person.timeline || [];
  const description = segments.map((s) => `${s.emotion} ${s.from.toFixed(1)}–${s.to.toFixed(1)} s`).join(', ');
  const bar = svgEl('svg', {
    class: 'timeline-bar', viewBox: `0 0 ${BAR_WIDTH} 24`, preserveAspectRatio: 'none',
    role: 'img', 'aria-label': `P${person.person}: ${description}`,
  });
  bar.append(svgEl('rect', { class: 'track', x: 0, y: 0, width: BAR_WIDTH, height: 24 }));
  for (const segment of segments) bar.append(segmentRect(segment, span, view.fps));
  root.append(label, bar);
  if (!isVideo) return root;

  const head = svgEl('line', { class: 'playhead', x1: 0, x2: 0, y1: 0, y2: 24 });
  bar.append(head);
  view.heads.push(head);
  bar.addEventListener('click', (event) => {
    const rect = bar.getBoundingClientRect();
    seek(view, Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1) * span);
  });
  return root;
}

// A segment of one sample has from == to; it still gets one sampling period of width to be visible.
function segmentRect(segment, span, fps) {
  const to = Math.max(segment.to, segment.from + 1 / fps);
  const rect = svgEl('rect', {
    x: (segment.from / span) * BAR_WIDTH, y: 0, width: ((to - segment.from) / span) * BAR_WIDTH, height: 24,
    fill: colourOf(segment.emotion), 'data-emotion': segment.emotion,
  });
  rect.append(svgEl('title', {}, `${segment.emotion}, ${segment.from.toFixed(1)}–${segment.to.toFixed(1)} s`));
  return rect;
}

function moveHeads(view, t) {
  if (view.headTime === t) return;
  view.headTime = t;
  const x = Math.min(t / spanOf(view), 1) * BAR_WIDTH;
  for (const head of view.heads) { head.setAttribute('x1', x); head.setAttribute('x2', x); }
}

function renderShares(result) {
  const classes = result.classes || Object.keys(result.emotions || {});
  const rows = classes.map((name) => [name, (result.emotions && result.emotions[name]) || 0])
    .sort((a, b) => b[1] - a[1]);
  $('shares').replaceChildren(...rows.map(([name, share]) => {
    const row = el('div', { class: 'share', 'data-emotion': name });
    const track = el('span', { class: 'share-track', 'aria-hidden': 'true' });
    const fill = el('span', { class: 'share-fill' });
    Object.assign(fill.style, { width: `${share * 100}%`, background: colourOf(name) });
    track.append(fill);
    row.append(el('span', { class: 'share-name' }, name), track, el('span', { class: 'share-value' }, formatShare(share)));
    return row;
  }));
}

function setDownloads(result) {
  const stem = result.name.replace(/\.[^.]*$/, '') || 'result';
  for (const kind of ['json', 'csv']) {
    const link = $(`download-${kind}`);
    link.href = result.downloads[kind];
    link.download = `${stem}-expressions.${kind}`;
  }
}

// ---- choosing a file -----------------------------------------------------------

function choose(file) {
  state.file = file || null;
  $('file-name').textContent = file ? `${file.name} (${formatSize(file.size)})` : 'no file chosen';
}

function wireInputs() {
  $('file').addEventListener('change', (event) => choose(event.target.files[0]));
  $('cancel').addEventListener('click', () => cancel());
  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    analyze(state.file);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('dragging');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    const file = event.dataTransfer.files[0];
    if (!file) return;
    choose(file);
    analyze(file); // a drop is a deliberate choice: start at once (ignored while a job runs)
  });
  // A file dropped beside the drop zone would otherwise replace the page with the file.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());
}

async function loadInfo() {
  try {
    const res = await request('/api/info');
    if (res.status !== 200) throw new Error(errorOf(res));
    state.info = { ...DEFAULT_INFO, ...res.body };
  } catch (err) {
    showError(`Could not read the server's settings: ${err.message}`);
  }
  $('model').textContent = state.info.model;
  $('fps').value = String(state.info.defaultFps);
}

wireInputs();
loadInfo();
