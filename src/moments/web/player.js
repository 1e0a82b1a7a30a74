// The "watch along" player: a plain <video> for files, hls.js (vendored, loaded on first use)
// for HLS. Seeking works before the media is ready: the position is applied once the metadata
// arrives.

const HLS_SCRIPT = new URL('vendor/hls.min.js', import.meta.url);
let hlsLoading = null;

/** Mux's public HLS URL of a playback ID. */
export function muxStreamUrl(playbackId) {
  return `https://stream.mux.com/${encodeURIComponent(playbackId)}.m3u8`;
}

function isHls(url) {
  return new URL(url).pathname.toLowerCase().endsWith('.m3u8');
}

function loadHlsJs() {
  hlsLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = HLS_SCRIPT;
    script.onload = () => resolve(window.Hls);
    script.onerror = () => { hlsLoading = null; reject(new Error('could not load vendor/hls.min.js')); };
    document.head.append(script);
  });
  return hlsLoading;
}

export class Player {
  /** @param {HTMLVideoElement} video  @param {(message: string) => void} onError */
  constructor(video, onError) {
    this.video = video;
    this.onError = onError;
    this.hls = null;
    this.ticket = 0; // bumped by every load/unload, so a slow hls.js load cannot attach to old content
    this.pending = null; // {ms, play}: a seek asked for before the metadata arrived
    video.addEventListener('loadedmetadata', () => {
      if (this.pending) this.seek(this.pending.ms, this.pending);
    });
    video.addEventListener('error', () => {
      if (this.video.getAttribute('src') || this.hls) this.onError('The video could not be played from its URL.');
    });
  }

  get loaded() {
    return Boolean(this.video.getAttribute('src')) || Boolean(this.hls);
  }

  async load(url) {
    this.unload();
    if (!isHls(url)) {
      this.video.src = url;
      return;
    }
    // hls.js first wherever Media Source Extensions exist (its README's order): one behaviour
    // across browsers. Native HLS is the fallback (iOS Safari has no MSE).
    const ticket = this.ticket;
    const Hls = await loadHlsJs().catch(() => null);
    if (ticket !== this.ticket) return;
    if (Hls?.isSupported()) {
      this.hls = new Hls({ enableWorker: true });
      this.hls.on(Hls.Events.ERROR, (_, data) => {
        if (data.fatal) this.onError(`The stream could not be played (${data.details}).`);
      });
      this.hls.loadSource(url);
      this.hls.attachMedia(this.video);
    } else if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
      this.video.src = url;
    } else {
      this.onError(Hls ? 'This browser cannot play HLS streams.' : 'The HLS player (vendor/hls.min.js) could not be loaded.');
    }
  }

  unload() {
    this.ticket++;
    this.pending = null;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  /** Move to `ms` and play from there (a click is a user gesture, so play() is allowed). */
  seek(ms, { play = true } = {}) {
    const seconds = ms / 1000;
    if (this.video.readyState < HTMLMediaElement.HAVE_METADATA) {
      this.pending = { ms, play };
      return;
    }
    this.pending = null;
    this.video.currentTime = Math.min(seconds, Math.max(0, (this.video.duration || seconds) - 0.05));
    if (play) this.video.play().catch(() => {}); // autoplay refused: the position is still set
  }
}
