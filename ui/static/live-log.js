/* global document, window, EventSource, setTimeout */
// Progressive enhancement of the apply job page: the live log over Server-Sent Events. Everything else on the page
// works without JavaScript; when the run completes the page reloads once to show the final results.
(function () {
  var log = document.getElementById('live-log');
  if (!log || typeof EventSource === 'undefined') return;
  var status = document.getElementById('live-status');
  var source = new EventSource(log.getAttribute('data-events'));
  function line(text) {
    log.textContent += text + '\n';
    log.scrollTop = log.scrollHeight;
  }
  function describe(type, data) {
    var at = data.at ? data.at.replace('T', ' ').replace(/\..*$/, '') + '  ' : '';
    if (type === 'result') return at + 'result  ' + (data.name || data.key || '') + ': ' + data.status + (data.reason ? ' (' + data.reason + ')' : '') + (data.message ? ' ' + data.message : '');
    if (type === 'log') return at + (data.message || JSON.stringify(data));
    if (type === 'dispatch') return at + 'dispatch  ' + (data.op || '') + ' ' + (data.kind || '') + ' ' + (data.vmid || '') + ' ' + (data.name || '');
    if (type === 'complete') return at + 'complete  ' + (data.state || '');
    return at + type + '  ' + JSON.stringify(data);
  }
  ['plan_summary', 'dispatch', 'result', 'log', 'complete'].forEach(function (type) {
    source.addEventListener(type, function (e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch { data = { message: e.data }; }
      line(describe(type, data));
      if (type === 'complete') {
        source.close();
        if (status) status.textContent = 'The run has finished: reloading the results.';
        setTimeout(function () { window.location.reload(); }, 800);
      }
    });
  });
  source.onerror = function () { if (status && source.readyState === EventSource.CLOSED) status.textContent = 'The live log is disconnected; reload the page.'; };
  if (status) status.textContent = 'Live: events appear as they happen.';
})();
