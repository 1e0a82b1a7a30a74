// The scripted watch pattern for tests/test_browser.py. Works on anything with the media
// element API (<video>, <mux-player>). Each command is logged with the currentTime at that
// moment, so the test derives the expected heatmap from what really happened.
(function () {
  'use strict';

  function waitFor(predicate, what, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var started = performance.now();
      var timer = setInterval(function () {
        if (predicate()) {
          clearInterval(timer);
          resolve();
        } else if (performance.now() - started > timeoutMs) {
          clearInterval(timer);
          reject(new Error('timed out waiting for ' + what));
        }
      }, 5);
    });
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // plan: {rate, seekAt, seekTo, seekBackAt, seekBackTo, pauseAt, settleMs, timeoutMs}
  // endView: a function that ends the Mux Data view (sends viewend).
  async function run(media, plan, endView) {
    var log = [];
    var note = function (command, extra) {
      var entry = {command: command, wall_ms: Date.now(), current_time: media.currentTime, paused: media.paused};
      for (var key in extra || {}) entry[key] = extra[key];
      log.push(entry);
    };
    var timeout = plan.timeoutMs;
    var errors = [];
    media.addEventListener('error', function () { errors.push(String(media.error && media.error.message)); });
    await waitFor(function () { return media.readyState >= 1 && media.duration > 0; }, 'metadata', timeout);
    media.muted = true;
    media.playbackRate = plan.rate;
    note('play', {duration: media.duration});
    await media.play();
    await waitFor(function () { return media.currentTime >= plan.seekAt; }, 'seekAt', timeout);
    note('seek', {to: plan.seekTo});
    media.currentTime = plan.seekTo;
    await waitFor(function () { return media.currentTime >= plan.seekBackAt; }, 'seekBackAt', timeout);
    note('seek', {to: plan.seekBackTo});
    media.currentTime = plan.seekBackTo;
    await waitFor(function () { return media.currentTime >= plan.pauseAt; }, 'pauseAt', timeout);
    note('pause');
    media.pause();
    await sleep(plan.settleMs);
    note('end_view', {playback_rate: media.playbackRate});
    endView();
    return {log: log, errors: errors};
  }

  window.watchPattern = run;
})();
