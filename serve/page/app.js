// The page of `fer-dag serve`: upload a recording, follow the job, then show the faces
// found over the video in step with playback, a timeline per person and the share of each emotion.
// Plain browser JavaScript modules (this one, result-view.js and shared.js), no build step and nothing fetched
// from outside the server. This one holds the upload, the polling of the job and the messages.
import { resetView, showResult } from './result-view.js';
import { $, DEFAULT_INFO, state } from './shared.js';

const POLL_MS = 300;

// ---- small helpers -------------------------------------------------------------

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
